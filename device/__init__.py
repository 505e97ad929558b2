"""safu.device: voice control offline. Microphone -> utterance -> recognised command -> switched device.

    audio.py               AudioSource: WavSource, PcmStreamSource (stdin), MicrophoneSource (sounddevice)
    endpointer.py          utterances from a stream: WebRTC VAD (from pocketsphinx) or energy, pre-roll, max length
    recognizer.py          Recognizer interface, Transcript, make_recognizer("pocketsphinx" | "vosk")
    asr_pocketsphinx.py    PocketSphinxConfig; the decoder: command n-gram LM + garbage words (restricted) or open
    pronunciations.py      the pronunciation dictionary: CMUdict, British forms (accent_pronunciations.txt), the user's
    audio_conditioning.py  noise floor and dither before decoding; the loudness range the word checks use
    warps.py               vocal-tract warps chosen by pitch;  pitch.py  speaking pitch of an utterance
    transcript_checks.py   which hypotheses may be acted on (garbage words, word pairs and triples of the commands)
    decoder_pool.py        PocketSphinx warp decoders in worker subprocesses, side by side
    asr_vosk.py            Vosk with a phrase-list grammar + [unk] (model directory from the user)
    command_vocabulary.py  spoken-form sentences from IntentModel.sentences; garbage (OOV) words
    arpa.py                ARPA n-gram writer;  spoken_numbers.py  digits <-> number words
    actuators.py           Actuator interface, print;  actuator_{mqtt,http,shell,gpio}.py
    actions.py             the actions YAML (checked at start), the runner (retries, deadlines, never raises)
                           and ActionWorker (actions on a thread of their own, off the listening path)
    pipeline.py            VoiceLoop: one JSON-able event per utterance, errors in it;  samples/  shipped demo WAVs
    voice_builder.py       the recogniser and voice loop `safu listen` builds from a model (and bench_voice_real)

Nothing here is imported by safu.runtime except inside `safu listen` (runtime/cli_listen.py).
"""
