#!/bin/sh
# device/samples/make_samples.sh: regenerate the sample recordings from commands.txt (name<TAB>text).
#   sh device/samples/make_samples.sh        (needs espeak-ng and sox)
# espeak-ng voice en-us at 130 words/min with short gaps between words (-g 4), resampled to 16 kHz 16-bit mono, with 0.3 s of silence before and
# 0.6 s after so the endpointer sees a start and an end.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
while IFS="$(printf '\t')" read -r name text; do
  [ -n "$name" ] || continue
  espeak-ng -v en-us -s 130 -g 4 -w "$tmp/raw.wav" "$text"
  sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 "$name.wav" pad 0.3 0.6
  echo "$name.wav: $text"
done < commands.txt
