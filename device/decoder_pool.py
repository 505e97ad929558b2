"""device/decoder_pool.py: PocketSphinx decoders spread over worker processes, one utterance at a time.

    pool = DecoderPool([settings_warp_1, settings_warp_2, ...], processes=2)
    pool.decode(pcm)    # -> {decoder index: [(words, score, posteriors), (words, score), ...]}: each one's
                        #    best path (with its word posteriors) and N-best runners-up
    pool.decode(pcm, which=[0, 1, 2])   # only those decoders (indices into the settings list)
    pool.close()

The recogniser decodes each utterance with several vocal-tract warps (asr_pocketsphinx). pocketsphinx
holds the GIL while it decodes, so threads gain little (measured: 3.49 s -> 2.89 s for two decoders);
worker processes run the decoders truly side by side. Each worker builds its own decoders from the
settings (the language model and dictionary files must exist until the constructor returns) and keeps
them for its whole life; `decode` rebuilds a decoder's feature front end per utterance, so what it
heard before does not change what it hears next. Errors
cross back as RecognizerError: a setting pocketsphinx rejects, or a worker that died. A worker that
died (killed, out of memory) fails the utterance it was decoding, and is started afresh before the
next one (`restarts` counts them), so one lost process does not deafen a listener for good. For that
the pool keeps a copy of the small files the settings name (`lm`, `dict` under KEPT_FILE_BYTES: the
command language model and dictionary, written to a temporary directory that is gone by then) and
writes them out again for the new worker; larger ones (the wheel's own models) must stay where they are.

Workers are plain subprocesses (`python -m safu.device.decoder_pool`) talking over their stdin and
stdout, not multiprocessing: multiprocessing's spawn re-imports the caller's main script (a script
without an `if __name__ == "__main__"` guard would start itself again), fork is unsafe beside audio
threads, and pool workers (daemon processes) may not start processes at all.
Protocol: one JSON line of settings in, one JSON status line out ("ready" or an error); then per
utterance a 4-byte little-endian length, a 4-byte mask of the worker's decoders to use (bit i: its i-th
decoder) and that many bytes of PCM in, one JSON line out: a list of hypotheses per chosen decoder, or an
error. A worker with no decoder chosen is not sent the utterance. A zero length, or the end of stdin,
stops the worker.
"""
from __future__ import annotations

import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import weakref

from safu.device.recognizer import RecognizerError

class WorkerDied(RecognizerError):
    """A decoder process stopped answering (it is started afresh before the next utterance)."""


KEPT_FILE_BYTES = 16 << 20  # setting files the pool keeps a copy of, to start a worker again
FILE_SETTINGS = ("lm", "dict")

NBEST = 8  # N-best hypotheses read from each decoder's lattice


def build_decoder(ps, settings: dict, named: tuple[str, ...] = ()):
    """pocketsphinx.Decoder(**settings), with bad settings reported as RecognizerError; `named`: the
    settings the user chose, named in the message."""
    try:
        return ps.Decoder(**settings)
    except KeyError as exc:  # pocketsphinx says "Unknown key b'name'"
        found = re.search(r"b'([^']*)'", str(exc.args[0]))
        raise RecognizerError(f"unknown PocketSphinx option {found.group(1) if found else exc.args[0]!r}") from None
    except (RuntimeError, ValueError) as exc:
        raise RecognizerError(f"pocketsphinx could not start with {list(named) or 'its settings'}: {exc}") from None


def decode(decoder, pcm: bytes) -> list[tuple]:
    """One utterance through one decoder -> its hypotheses (see hypotheses), the best path's with a third
    element: the natural-log posterior of each of its words in the lattice (word_posteriors), or None.

    The feature front end is rebuilt first (reinit_feat, under 0.1 ms): it otherwise carries state from
    one utterance to the next (not the cepstral mean: restoring that changed nothing), so a recording
    was heard differently depending on what the decoder had heard before it."""
    decoder.reinit_feat()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    out = hypotheses(decoder)
    if out:
        out[0] = (*out[0], word_posteriors(decoder, out[0][0]))
    return out


FILLERS = re.compile(r"^(<s>|</s>|<sil>|\[\w+\]|\+\+\w+\+\+)$")  # silence and noise in a segmentation
POSTERIOR_FLOOR = -50.0  # natural log; a posterior that underflowed to 0


def word_posteriors(decoder, words: str) -> list[float] | None:
    """The natural-log posterior probability of each word of the best path `words` in the decoder's
    lattice (its segmentation, silences and noise left out), or None when the segmentation does not
    spell `words`. A word the lattice holds no rival for has 0; a word that other paths through
    the same frames dispute has less (the voice loop's slot-word check, pipeline.VoiceLoop.confirm)."""
    try:
        segments = [(re.sub(r"\(\d+\)$", "", seg.word), seg.prob) for seg in decoder.seg()]
    except (RuntimeError, ValueError):
        return None
    kept = [(word, prob) for word, prob in segments if not FILLERS.match(word)]
    if [word for word, _ in kept] != words.split():
        return None
    # the lattice's sums are approximate: a posterior can come out a little above 1
    return [min(0.0, max(POSTERIOR_FLOOR, math.log(prob))) if prob > 0 else POSTERIOR_FLOOR for _, prob in kept]


def hypotheses(decoder) -> list[tuple[str, float]]:
    """The decoder's best path and its N-best runners-up, with scores comparable across warps.

    The best path's score (log base 1.0001) compares well across warps; N-best path scores do not
    (they carry a lattice offset that differs from decoder to decoder, by 400,000 at times), so a
    runner-up is scored as the best path's score minus its distance to the top of its N-best list. The
    list comes out of score order at times, so it is sorted first: measured from its first entry, a
    runner-up could outscore the best path and push every other hypothesis out of the margin."""
    hyp = decoder.hyp()
    if hyp is None or hyp.score <= 0:  # the binding gives exp(score); 0 is an underflow: nothing usable
        return []
    log = decoder.get_logmath().log
    best = log(hyp.score)
    out = [(hyp.hypstr.strip(), best)]
    nbest = []
    for alt in decoder.nbest():
        if alt is None:  # the binding yields None for a lattice with no path (noise with no words in it)
            continue
        if alt.score > 0:
            nbest.append((alt.hypstr.strip(), log(alt.score)))
        if len(nbest) == NBEST:
            break
    nbest.sort(key=lambda entry: -entry[1])
    if nbest:  # its top entry stands for the best path
        top = nbest[0][1]
        out += [(words, best - (top - score)) for words, score in nbest[1:]]
    return out


def serve(stdin, stdout) -> None:
    """Worker main loop (binary streams): build the decoders, say "ready" (or why not), decode until told to stop."""
    def reply(status: str, payload) -> None:
        stdout.write(json.dumps({"status": status, "payload": payload}).encode() + b"\n")
        stdout.flush()

    try:
        request = json.loads(stdin.readline())
        import pocketsphinx as ps
        decoders = [build_decoder(ps, settings, tuple(request["named"])) for settings in request["settings"]]
    except Exception as exc:  # reported to the parent, which raises it
        reply("error", str(exc))
        return
    reply("ready", None)
    while True:
        header = stdin.read(8)
        if len(header) < 8:
            return
        size, mask = struct.unpack("<II", header)
        if size == 0:
            return
        pcm = stdin.read(size)
        try:
            reply("ok", [decode(decoder, pcm) for i, decoder in enumerate(decoders) if mask >> i & 1])
        except Exception as exc:
            reply("error", f"decoding failed: {exc}")


class DecoderPool:
    def __init__(self, settings_list: list[dict], processes: int, named: tuple[str, ...] = ()):
        """settings_list: one dict of pocketsphinx.Decoder settings per decoder; they are dealt out
        round-robin over `processes` workers (at most one per decoder). named: see build_decoder."""
        processes = max(1, min(processes, len(settings_list)))
        self._count = len(settings_list)
        self._requests = [{"settings": settings_list[k::processes], "named": list(named)} for k in range(processes)]
        self._kept = {}  # path -> bytes, for _restart
        for settings in settings_list:
            for key in FILE_SETTINGS:
                path = settings.get(key)
                if isinstance(path, str) and path not in self._kept and os.path.isfile(path) \
                        and os.path.getsize(path) <= KEPT_FILE_BYTES:
                    with open(path, "rb") as f:
                        self._kept[path] = f.read()
        self._procs = [self._spawn(request) for request in self._requests]
        self._broken: set[int] = set()  # workers that stopped answering: started afresh before the next utterance
        self.restarts = 0
        self._finalizer = weakref.finalize(self, _stop, self._procs)
        try:
            for proc in self._procs:
                self._receive(proc)
        except RecognizerError:
            self.close()
            raise

    @staticmethod
    def _spawn(request: dict) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "safu.device.decoder_pool"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.flush()
        except OSError:
            pass  # the reply (none) reports it
        return proc

    def _restart(self, w: int) -> None:
        """Ends worker w (if anything is left of it) and starts a new one with the same decoders."""
        old = self._procs[w]
        _stop([old], wait_s=0.5)
        request = self._requests[w]
        with tempfile.TemporaryDirectory(prefix="safu-decoder-") as tmp:
            copies = {}
            for n, (path, data) in enumerate(self._kept.items()):
                if not os.path.exists(path):  # written out again; the worker reads them while it starts
                    copies[path] = os.path.join(tmp, f"{n}-{os.path.basename(path)}")
                    with open(copies[path], "wb") as f:
                        f.write(data)
            settings = [{key: copies.get(value, value) if key in FILE_SETTINGS else value
                         for key, value in one.items()} for one in request["settings"]]
            self._procs[w] = self._spawn({**request, "settings": settings})
            self.restarts += 1
            self._receive(self._procs[w])  # RecognizerError: still broken, tried again next utterance
        self._broken.discard(w)

    @property
    def processes(self) -> int:
        return len(self._procs)

    def decode(self, pcm: bytes, which=None) -> dict[int, list[tuple[str, float]]]:
        """{decoder: its hypotheses} for the decoders `which` (indices into the settings list; default all)."""
        if not self._finalizer.alive:
            raise RecognizerError("the decoder pool is closed")
        chosen = range(self._count) if which is None else which
        masks = [0] * len(self._procs)
        for k in chosen:
            if not 0 <= k < self._count:
                raise ValueError(f"no decoder {k}: the pool has {self._count}")
            masks[k % len(self._procs)] |= 1 << (k // len(self._procs))  # dealt out round-robin
        if not pcm or not any(masks):
            return {}
        for w, proc in enumerate(self._procs):
            if masks[w] and (w in self._broken or proc.poll() is not None):
                self._broken.add(w)
                self._restart(w)
        busy = [(w, proc, mask) for w, (proc, mask) in enumerate(zip(self._procs, masks)) if mask]
        sent, errors = [], []
        for w, proc, mask in busy:
            try:
                self._send(proc, pcm, mask)
                sent.append((w, proc, mask))
            except RecognizerError as exc:
                self._broken.add(w)
                errors.append(exc)
        replies = {}
        for w, proc, mask in sent:  # every reply is read, so that the next utterance starts in step
            try:
                lists = self._receive(proc)
            except RecognizerError as exc:
                if isinstance(exc, WorkerDied):
                    self._broken.add(w)
                errors.append(exc)
                continue
            mine = [i for i in range(32) if mask >> i & 1]  # the worker's decoders, in its order
            for i, hyps in zip(mine, lists):
                replies[w + i * len(self._procs)] = [tuple(h) for h in hyps]
        if errors:
            raise errors[0]
        return replies

    def close(self) -> None:
        self._finalizer()

    @staticmethod
    def _send(proc, pcm: bytes, mask: int) -> None:
        try:
            proc.stdin.write(struct.pack("<II", len(pcm), mask) + pcm)
            proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise WorkerDied("a PocketSphinx decoder process has died") from None

    @staticmethod
    def _receive(proc):
        try:
            line = proc.stdout.readline()
        except (OSError, ValueError):
            line = b""
        if not line:
            raise WorkerDied("a PocketSphinx decoder process has died")
        try:
            message = json.loads(line)
        except ValueError:
            raise WorkerDied(f"a PocketSphinx decoder process answered garbage: {line[:80]!r}") from None
        if message["status"] not in ("ready", "ok"):
            raise RecognizerError(message["payload"])
        return message["payload"]


def _stop(procs, wait_s: float = 2.0) -> None:
    for proc in procs:
        try:
            proc.stdin.write(struct.pack("<II", 0, 0))
            proc.stdin.close()
        except (OSError, ValueError):
            pass
    for proc in procs:
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


if __name__ == "__main__":
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever the C library prints goes to stderr, never into the protocol
    serve(sys.stdin.buffer, protocol_out)
