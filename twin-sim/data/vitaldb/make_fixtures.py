#!/usr/bin/env python3
"""Writes the VitalDB fixtures of twin-sim's tests with the vitaldb Python library (1.7.2)
and records what that library reads back from them.

`case.vital` is written packed (the library's default: one record per wave track, gaps
filled with the format's missing value, numerics before waves); `case-unpacked.vital` holds
the same tracks unpacked (a wave track as several records, one with a gap before it).
`expected.json` lists, per file, every track as vitaldb reads it: device/name, type
(1 wave, 2 numeric, 5 text), sample format, unit, sampling rate, gain, offset, display
range, and its records (time in Unix seconds, stored values; NaN as null).
Synthetic numbers, no patient data.

Run from this folder (pip install vitaldb): python3 make_fixtures.py
"""

import json
import math

import numpy as np
import vitaldb
from vitaldb.utils import Device, Track

T0 = 4102444800.0  # 2100-01-01 00:00:00 UTC, the date VitalDB's open dataset is shifted to


def build():
    vf = vitaldb.VitalFile()
    vf.dgmt = -540  # Korea: UTC = local - 9 h (minutes)
    vf.devs = {"Solar8000": Device("Solar8000", "Solar8000", "COM1"), "SNUADC": Device("SNUADC", "SNUADC", "")}
    num = lambda name, unit, values, step=2.0: Track(
        name, 2, fmt=1, unit=unit, dname="Solar8000", mindisp=0, maxdisp=200,
        recs=[{"dt": T0 + step * i, "val": v} for i, v in enumerate(values)])
    hr = num("HR", "/min", [72.0 + (i % 5) for i in range(30)])
    spo2 = num("PLETH_SPO2", "%", [98.0, 97.0, 99.0, 96.0] * 7 + [94.0, 93.0])
    sbp = num("ART_SBP", "mmHg", [120.0 - i for i in range(30)])
    # ECG as VitalDB's SNUADC stores it: 16-bit counts with a gain and offset, 500 Hz.
    ecg_counts = np.array([int(3000 * math.sin(2 * math.pi * i / 83)) for i in range(500 * 6)], dtype="int16")
    ecg = Track("ECG_II", 1, fmt=5, unit="mV", srate=500, gain=0.001, offset=-0.25, dname="SNUADC",
                mindisp=-1, maxdisp=2,
                recs=[{"dt": T0, "val": ecg_counts[:1500]}, {"dt": T0 + 4.0, "val": ecg_counts[2000:]}])
    pleth = Track("PLETH", 1, fmt=1, unit="", srate=100, dname="SNUADC", mindisp=0, maxdisp=100,
                  recs=[{"dt": T0, "val": np.array([50 + 40 * math.sin(2 * math.pi * i / 80) for i in range(600)],
                                                   dtype="float32")}])
    event = Track("EVENT", 5, fmt=1, unit="", recs=[{"dt": T0 + 5.0, "val": "Induction"},
                                                     {"dt": T0 + 41.0, "val": "Incision"}])
    vf.trks = {"Solar8000/HR": hr, "Solar8000/PLETH_SPO2": spo2, "Solar8000/ART_SBP": sbp,
               "SNUADC/ECG_II": ecg, "SNUADC/PLETH": pleth, "EVENT": event}
    vf.dtstart, vf.dtend = T0, T0 + 60.0
    return vf


def dump(path):
    vf = vitaldb.VitalFile(path)
    tracks = []
    for dtname, trk in vf.trks.items():
        recs = []
        for rec in trk.recs:
            val = rec["val"]
            if isinstance(val, np.ndarray):
                val = [None if (isinstance(v, float) and math.isnan(v)) else v for v in val.tolist()]
            recs.append([rec["dt"], val])
        tracks.append({"name": dtname, "type": trk.type, "fmt": trk.fmt, "unit": trk.unit, "srate": trk.srate,
                       "gain": trk.gain, "offset": trk.offset, "mindisp": trk.mindisp, "maxdisp": trk.maxdisp,
                       "recs": recs})
    return {"dgmt": vf.dgmt, "tracks": tracks}


def main():
    build().to_vital("case.vital")
    build().to_vital("case-unpacked.vital", packed=False)
    expected = {name: dump(name) for name in ("case.vital", "case-unpacked.vital")}
    with open("expected.json", "w") as out:
        json.dump(expected, out, separators=(",", ":"))
        out.write("\n")


if __name__ == "__main__":
    main()
