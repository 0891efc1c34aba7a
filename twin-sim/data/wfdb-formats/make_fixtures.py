#!/usr/bin/env python3
"""Writes the WFDB format fixtures of twin-sim's tests and reads them back with wfdb-python.

One record per signal format (fmt<N>.hea and its signal file), plus short single-signal
records of the packed formats whose length is not a whole group (212: 101 samples; 310 and
311: 100 and 101). `expected.json` holds what wfdb-python's reader (an implementation
independent of twin-sim's) decodes from each file, sample for sample, in adu, with each
format's invalid value where a sample is missing; twin-sim's test compares against it.

wfdb-python writes formats 16, 24, 32, 80, 212 and the FLAC formats 508/516/524 itself; it
does not write 8, 61, 160, 310 and 311, so this script packs those bytes from PhysioNet's
signal-file specification (signal(5)) and lets wfdb-python's reader check them.

Run from this folder (pip install wfdb soundfile): python3 make_fixtures.py
"""

import json
import math

import numpy as np
import wfdb

FRAMES = 100
BITS = {"8": 16, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12,
        "310": 10, "311": 10, "508": 8, "516": 16, "524": 24}
WRITTEN_BY_WFDB = {"16", "24", "32", "80", "212", "508", "516", "524"}


def pattern(fmt, signal, n):
    """Samples in adu: a sine at 80 % of the range, then both extremes, 0, -1 and a gap."""
    if fmt == "8":
        # First differences must stay within -128..127: a random walk from 100.
        rng = np.random.default_rng(8 + signal)
        steps = rng.integers(-127, 128, n)
        steps[0] = 0
        return list(100 + np.cumsum(steps))
    hi = 2 ** (BITS[fmt] - 1) - 1
    out = [int(round(hi * 0.8 * math.sin(2 * math.pi * i / 23 + signal))) for i in range(n)]
    specials = [hi, -hi, 0, -1, -hi - 1]  # the last is the format's invalid value (a gap)
    for k, v in enumerate(specials):
        if 1 + k + signal < n:
            out[1 + k + signal] = v
    return out


def pack(fmt, flat):
    """Bytes of a signal file holding the interleaved samples `flat`, per signal(5)."""
    out = bytearray()
    if fmt == "8":
        raise ValueError("format 8 is packed per signal, see write_record")
    if fmt == "61":
        for v in flat:
            out += int(v).to_bytes(2, "big", signed=True)
    elif fmt == "160":
        for v in flat:
            out += (int(v) + 32768).to_bytes(2, "little")
    elif fmt == "310":
        # Three 10-bit samples in two little-endian 16-bit words: the first sample in bits 1-10
        # of word 0, the second in bits 1-10 of word 1, the third's low 5 bits in bits 11-15 of
        # word 0 and its high 5 bits in bits 11-15 of word 1. A trailing group of one or two
        # samples takes four bytes.
        for g in range(0, len(flat), 3):
            a, b, c = [(int(v) & 0x3FF) for v in (list(flat[g:g + 3]) + [0, 0])[:3]]
            w0 = (a << 1) | ((c & 0x1F) << 11)
            w1 = (b << 1) | ((c >> 5) << 11)
            out += w0.to_bytes(2, "little") + w1.to_bytes(2, "little")
        if len(flat) % 3 == 1:
            out = out[:-2]
    elif fmt == "311":
        # Three 10-bit samples in one little-endian 32-bit word: bits 0-9, 10-19, 20-29.
        for g in range(0, len(flat), 3):
            a, b, c = [(int(v) & 0x3FF) for v in (list(flat[g:g + 3]) + [0, 0])[:3]]
            out += (a | (b << 10) | (c << 20)).to_bytes(4, "little")
        rest = len(flat) % 3
        if rest == 1:
            out = out[:-2]
        elif rest == 2:
            out = out[:-1]
    else:
        raise ValueError(fmt)
    return bytes(out)


def write_record(name, fmt, spfs, frames):
    signals = [pattern(fmt, s, frames * spf) for s, spf in enumerate(spfs)]
    record = wfdb.Record(
        record_name=name, n_sig=len(spfs), fs=100, sig_len=frames,
        file_name=[name + (".flac" if fmt.startswith("5") else ".dat")] * len(spfs),
        fmt=[fmt] * len(spfs), samps_per_frame=list(spfs), skew=[0] * len(spfs),
        byte_offset=[0] * len(spfs), adc_gain=[200.0] * len(spfs), baseline=[0] * len(spfs),
        units=["mV"] * len(spfs), adc_res=[BITS[fmt]] * len(spfs), adc_zero=[0] * len(spfs),
        sig_name=["sig%d" % s for s in range(len(spfs))],
        e_d_signal=[np.array(s, dtype="int64") for s in signals],
    )
    record.init_value = [int(s[0]) for s in signals]
    record.checksum = [int(sum(int(v) for v in s)) % 65536 for s in signals]
    record.checksum = [c - 65536 if c > 32767 else c for c in record.checksum]
    record.block_size = [0] * len(spfs)
    if fmt in WRITTEN_BY_WFDB:
        record.wrsamp(expanded=True)
        return
    record.wrheader(expanded=True)
    frames_of = [np.array(s).reshape(frames, spf) for s, spf in zip(signals, spfs)]
    if fmt == "8":
        data = bytearray()
        previous = [int(s[0]) for s in signals]
        for f in range(frames):
            for s, spf in enumerate(spfs):
                for v in frames_of[s][f]:
                    data += int(int(v) - previous[s]).to_bytes(1, "little", signed=True)
                    previous[s] = int(v)
    else:
        flat = [int(v) for f in range(frames) for s in range(len(spfs)) for v in frames_of[s][f]]
        data = pack(fmt, flat)
    with open(name + ".dat", "wb") as out:
        out.write(data)


def native_byte_order():
    """wfdb-python 4.3 decodes format 61 into a big-endian array and then cannot name its
    dtype ('>i2'[3:] is not a width); give it native-order arrays first."""
    from wfdb.io import _signal

    convert = _signal.SignalMixin.convert_dtype

    def patched(self, physical, return_res, smooth_frames):
        if getattr(self, "e_d_signal", None) is not None:
            self.e_d_signal = [s.astype(s.dtype.newbyteorder("=")) for s in self.e_d_signal]
        return convert(self, physical, return_res, smooth_frames)

    _signal.SignalMixin.convert_dtype = patched


def main():
    native_byte_order()
    records = {}
    for fmt in BITS:
        spfs = (2, 2) if fmt.startswith("5") else (1, 2)
        records["fmt" + fmt] = (fmt, spfs, FRAMES)
    records["fmt212_odd"] = ("212", (1,), 101)
    records["fmt310_odd1"] = ("310", (1,), 100)
    records["fmt310_odd2"] = ("310", (1,), 101)
    records["fmt311_odd1"] = ("311", (1,), 100)
    records["fmt311_odd2"] = ("311", (1,), 101)
    expected = {}
    for name, (fmt, spfs, frames) in records.items():
        write_record(name, fmt, spfs, frames)
        read = wfdb.rdrecord(name, physical=False, smooth_frames=False, return_res=64)
        got = [list(map(int, s)) for s in read.e_d_signal]
        want = [pattern(fmt, s, frames * spf) for s, spf in enumerate(spfs)]
        assert got == [list(map(int, w)) for w in want], name
        expected[name] = got
    with open("expected.json", "w") as out:
        json.dump(expected, out, separators=(",", ":"))
        out.write("\n")


if __name__ == "__main__":
    main()
