"""device/decoder_pool.py: PocketSphinx decoders spread over worker processes, one utterance at a time.

    pool = DecoderPool([settings_warp_1, settings_warp_2, ...], processes=2)
    pool.decode(pcm)    # -> [(words, score), ...] from every decoder: best paths and N-best runners-up
    pool.close()

The recogniser decodes each utterance once per vocal-tract warp (asr_pocketsphinx.WARPS). pocketsphinx
holds the GIL while it decodes, so threads gain little (measured: 3.49 s -> 2.89 s for two decoders);
worker processes run the decoders truly side by side. Each worker builds its own decoders from the
settings (the language model and dictionary files must exist until the constructor returns) and keeps
them, with their running cepstral means, for its whole life. Errors cross back as RecognizerError: a
setting pocketsphinx rejects, or a worker that died.
"""
from __future__ import annotations

import multiprocessing
import re
import weakref

from safu.device.recognizer import RecognizerError

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


def decode(decoder, pcm: bytes) -> list[tuple[str, float]]:
    """One utterance through one decoder -> its hypotheses (see hypotheses)."""
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    return hypotheses(decoder)


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
        if alt.score > 0:
            nbest.append((alt.hypstr.strip(), log(alt.score)))
        if len(nbest) == NBEST:
            break
    nbest.sort(key=lambda entry: -entry[1])
    if nbest:  # its top entry stands for the best path
        top = nbest[0][1]
        out += [(words, best - (top - score)) for words, score in nbest[1:]]
    return out


def _serve(conn, settings_list: list[dict], named: tuple[str, ...]) -> None:
    """Worker process: build the decoders, say "ready" (or why not), then decode until told to stop."""
    try:
        import pocketsphinx as ps
        decoders = [build_decoder(ps, settings, named) for settings in settings_list]
    except Exception as exc:  # reported to the parent, which raises it
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", None))
    while True:
        try:
            pcm = conn.recv_bytes()
        except EOFError:
            return
        if not pcm:
            return
        try:
            conn.send(("ok", [h for decoder in decoders for h in decode(decoder, pcm)]))
        except Exception as exc:
            conn.send(("error", f"decoding failed: {exc}"))


class DecoderPool:
    def __init__(self, settings_list: list[dict], processes: int, named: tuple[str, ...] = ()):
        """settings_list: one dict of pocketsphinx.Decoder settings per decoder; they are dealt out
        round-robin over `processes` workers (at most one per decoder). named: see build_decoder."""
        processes = max(1, min(processes, len(settings_list)))
        context = multiprocessing.get_context("spawn")  # no fork: the caller may have audio threads
        self._conns, self._procs = [], []
        for k in range(processes):
            parent, child = context.Pipe()
            proc = context.Process(target=_serve, args=(child, settings_list[k::processes], tuple(named)), daemon=True,
                                   name=f"safu-decoder-{k}")
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        self._finalizer = weakref.finalize(self, _stop, self._conns, self._procs)
        try:
            for conn in self._conns:
                self._receive(conn)
        except RecognizerError:
            self.close()
            raise

    @property
    def processes(self) -> int:
        return len(self._procs)

    def decode(self, pcm: bytes) -> list[tuple[str, float]]:
        if not self._finalizer.alive:
            raise RecognizerError("the decoder pool is closed")
        if not pcm:
            return []
        for conn in self._conns:
            self._send(conn, pcm)
        replies, errors = [], []
        for conn in self._conns:  # every reply is read, so that the next utterance starts in step
            try:
                replies += self._receive(conn)
            except RecognizerError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        return replies

    def close(self) -> None:
        self._finalizer()

    @staticmethod
    def _send(conn, pcm: bytes) -> None:
        try:
            conn.send_bytes(pcm)
        except (BrokenPipeError, ConnectionResetError, OSError):
            raise RecognizerError("a PocketSphinx decoder process has died") from None

    @staticmethod
    def _receive(conn):
        try:
            status, payload = conn.recv()
        except (EOFError, ConnectionResetError, OSError):
            raise RecognizerError("a PocketSphinx decoder process has died") from None
        if status != "ready" and status != "ok":
            raise RecognizerError(payload)
        return payload


def _stop(conns, procs) -> None:
    for conn in conns:
        try:
            conn.send_bytes(b"")
            conn.close()
        except OSError:
            pass
    for proc in procs:
        proc.join(timeout=2)
        if proc.is_alive():
            proc.kill()
            proc.join()
