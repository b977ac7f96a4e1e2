#!/usr/bin/env python3
"""Record evo's association, alignment and APE/RPE results as fixtures for
`calibration/tests/evo_parity.rs`.

Usage, from the repository root:

    python3 -m venv .venv-evo
    .venv-evo/bin/pip install evo==1.38.1
    .venv-evo/bin/python scripts/gen_evo_fixtures.py

(`.venv-evo` is not yet in `.gitignore`: keep it out of commits, or create it outside the
repository.) This reads the shared real trajectories (`../shared/data/real/`, see its README; `--data-dir`
overrides) and writes one JSON file per sequence to `calibration/tests/fixtures/evo/<name>.json`.
The script refuses to run under another evo version than `EVO_VERSION` unless `--any-version` is
given; the versions of evo, numpy and scipy used are stored in every file.

Everything goes through evo's Python API, as its `evo_ape` / `evo_rpe` commands do it:

- reading: `evo.tools.file_interface` (TUM reader, EuRoC CSV reader, KITTI reader). evo keeps
  repeated stamps (the `fr2_desk` ground truth has one, the `V102` estimate four, each with two
  different poses) and associates each of the repeated poses;
- association: `evo.core.sync.associate_trajectories(ref, est, max_diff, offset_2)` with
  `SyncMethod.nearest_time` (or `interpolation` where the case says so); KITTI is compared index by
  index, without association (evo's `kitti` mode);
- alignment of the estimate onto the reference: `PosePath3D.align` (Umeyama, SE(3) or Sim(3),
  optionally on the first n poses only, or scale only) or `PosePath3D.align_origin`;
- metrics: `evo.core.metrics.APE` / `RPE` with `get_all_statistics()`.

One deliberate deviation from evo's `kitti` mode: evo keeps KITTI's 3x4 matrices as read, and
their rotation blocks are orthonormal only to ~1e-7 (the files print 7 significant digits). Our
`Trajectory` stores unit quaternions, i.e. proper rotations, so here each KITTI rotation block is
first replaced by its closest rotation (evo's own `transformations.quaternion_from_matrix`,
Bar-Itzhack's method, which is the orthogonal polar factor) before evo computes anything. On the raw
matrices evo's rotation-sensitive KITTI statistics move by up to ~5e-5 relative, which is the size
of the files' rounding, not a property of the metric. Translations are used as read.

Each fixture holds, per case: the association settings and its result (number of matched pairs
and the sums of the matched indices into the original reference and estimate), the alignment
settings and evo's result (rotation, translation, scale), the metric settings, the number of
errors (and for RPE the sum of evo's `delta_ids`) and evo's seven statistics. Only statistics are
stored, not the error arrays, so the files stay small. Floats are written with Python's shortest
round-trip repr, i.e. exactly.
"""

import argparse
import copy
import importlib.metadata
import json
import os
import sys

import numpy as np

from evo.core import metrics, sync
from evo.core import transformations as tr
from evo.core.sync_method import SyncMethod
from evo.core.trajectory import PosePath3D, PoseTrajectory3D
from evo.core.units import Unit
from evo.tools import file_interface

EVO_VERSION = "1.38.1"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RELATIONS = {
    "translation_part": metrics.PoseRelation.translation_part,
    "rotation_part": metrics.PoseRelation.rotation_part,
    "full_transformation": metrics.PoseRelation.full_transformation,
    "rotation_angle_rad": metrics.PoseRelation.rotation_angle_rad,
    "rotation_angle_deg": metrics.PoseRelation.rotation_angle_deg,
}
UNITS = {
    "frames": Unit.frames,
    "meters": Unit.meters,
    "degrees": Unit.degrees,
    "radians": Unit.radians,
}


def read(data_dir, spec):
    """Reads one trajectory as evo's command-line tools would."""
    path = os.path.join(data_dir, spec["file"])
    fmt = spec["format"]
    if fmt == "tum":
        return file_interface.read_tum_trajectory_file(path)
    if fmt == "euroc":
        return file_interface.read_euroc_csv_trajectory(path)
    if fmt == "kitti":
        path3d = file_interface.read_kitti_poses_file(path)
        # Closest rotation of each 3x3 block (see the module docstring).
        quats = np.array([tr.quaternion_from_matrix(p) for p in path3d.poses_se3])
        stamps = np.loadtxt(os.path.join(data_dir, spec["times"]), ndmin=1)
        return PoseTrajectory3D(path3d.positions_xyz, quats, stamps)
    raise ValueError(f"unknown format {fmt}")


def matched_ids(ref, est, assoc):
    """Indices of the associated poses in the original reference and estimate.

    They come from `sync.matching_time_indices`, called with the arguments that
    `associate_trajectories` gives it (the trajectory with fewer poses first, the other one
    shifted by the offset); `run_case` checks them against the trajectories it returned. (Searching
    the returned stamps in the originals would not do: the files repeat some stamps.)
    """
    est_longer = est.num_poses > ref.num_poses
    short, long = (ref, est) if est_longer else (est, ref)
    offset = assoc["offset"] if est_longer else -assoc["offset"]
    ids_short, ids_long = sync.matching_time_indices(
        short.timestamps, long.timestamps, assoc["max_diff"], offset
    )
    return (ids_short, ids_long) if est_longer else (ids_long, ids_short)


def same_poses(original, ids, synced):
    return np.array_equal(original.timestamps[ids], synced.timestamps) and np.array_equal(
        original.positions_xyz[ids], synced.positions_xyz
    )


def run_case(ref_in, est_in, case):
    ref, est = copy.deepcopy(ref_in), copy.deepcopy(est_in)
    out = {"name": case["name"]}

    assoc = case.get("association")
    if assoc is None:
        assert ref.num_poses == est.num_poses
        out["association"] = None
    else:
        method = SyncMethod(assoc["method"])
        ref, est = sync.associate_trajectories(
            ref,
            est,
            sync_method=method,
            max_diff=assoc["max_diff"],
            offset_2=assoc["offset"],
        )
        # With interpolation the side with more poses (the reference on a tie) is resampled at
        # the other's matched stamps and has no indices of its own.
        est_longer = est_in.num_poses > ref_in.num_poses
        nearest = method is SyncMethod.nearest_time
        ref_ids, est_ids = matched_ids(ref_in, est_in, assoc)
        ref_sum = est_sum = None
        if nearest or est_longer:
            assert same_poses(ref_in, ref_ids, ref)
            ref_sum = int(np.sum(ref_ids))
        if nearest or not est_longer:
            assert same_poses(est_in, est_ids, est)
            est_sum = int(np.sum(est_ids))
        out["association"] = dict(assoc)
        out["association"]["reference_poses"] = ref_in.num_poses
        out["association"]["estimate_poses"] = est_in.num_poses
        out["association"]["matched"] = ref.num_poses
        out["association"]["reference_ids_sum"] = ref_sum
        out["association"]["estimate_ids_sum"] = est_sum

    mode = case.get("align", "none")
    n = case.get("n", -1)
    alignment = {"mode": mode, "n": n}
    if mode in ("se3", "sim3", "scale"):
        r, t, s = est.align(ref, correct_scale=mode == "sim3", correct_only_scale=mode == "scale", n=n)
        alignment.update(rotation=np.asarray(r).tolist(), translation=np.asarray(t).tolist(), scale=float(s))
    elif mode == "origin":
        m = est.align_origin(ref)
        alignment.update(rotation=m[:3, :3].tolist(), translation=m[:3, 3].tolist(), scale=1.0)
    elif mode != "none":
        raise ValueError(mode)
    out["alignment"] = alignment

    relation = RELATIONS[case["relation"]]
    metric = {"kind": case["metric"], "relation": case["relation"]}
    if case["metric"] == "ape":
        m = metrics.APE(relation)
        m.process_data((ref, est))
    else:
        m = metrics.RPE(
            relation,
            delta=case["delta"],
            delta_unit=UNITS[case["delta_unit"]],
            rel_delta_tol=case.get("rel_delta_tol", 0.1),
            all_pairs=case.get("all_pairs", False),
            pairs_from_reference=case.get("pairs_from_reference", False),
        )
        m.process_data((ref, est))
        metric.update(
            delta=case["delta"],
            delta_unit=case["delta_unit"],
            rel_delta_tol=case.get("rel_delta_tol", 0.1),
            all_pairs=case.get("all_pairs", False),
            pairs_from_reference=case.get("pairs_from_reference", False),
            delta_ids_sum=int(np.sum(m.delta_ids)),
        )
    metric["num_errors"] = int(len(m.error))
    out["metric"] = metric
    out["stats"] = {k: float(v) for k, v in m.get_all_statistics().items()}
    return out


NEAREST = {"method": "nearest_time", "max_diff": 0.01, "offset": 0.0}


def ape(name, relation, assoc=NEAREST, **kw):
    return dict(name=name, association=assoc, metric="ape", relation=relation, **kw)


def rpe(name, relation, delta, unit, assoc=NEAREST, **kw):
    return dict(
        name=name, association=assoc, metric="rpe", relation=relation, delta=delta, delta_unit=unit, **kw
    )


def standard_cases(assoc, metres):
    """The set computed on every sequence; `metres` is the RPE path delta."""
    m = f"{metres}m"
    return [
        ape("ape_translation_none", "translation_part", assoc),
        ape("ape_translation_se3", "translation_part", assoc, align="se3"),
        ape("ape_translation_sim3", "translation_part", assoc, align="sim3"),
        ape("ape_rotation_rad_se3", "rotation_angle_rad", assoc, align="se3"),
        ape("ape_rotation_deg_se3", "rotation_angle_deg", assoc, align="se3"),
        ape("ape_full_se3", "full_transformation", assoc, align="se3"),
        ape("ape_rotation_part_se3", "rotation_part", assoc, align="se3"),
        rpe("rpe_translation_1frame", "translation_part", 1, "frames", assoc),
        rpe("rpe_rotation_deg_1frame", "rotation_angle_deg", 1, "frames", assoc),
        rpe("rpe_full_1frame", "full_transformation", 1, "frames", assoc),
        rpe("rpe_translation_10frames_all_pairs", "translation_part", 10, "frames", assoc, all_pairs=True),
        rpe(f"rpe_translation_{m}", "translation_part", metres, "meters", assoc),
        rpe(f"rpe_rotation_deg_{m}", "rotation_angle_deg", metres, "meters", assoc),
        rpe(f"rpe_translation_{m}_all_pairs", "translation_part", metres, "meters", assoc, all_pairs=True),
        rpe(f"rpe_translation_{m}_sim3", "translation_part", metres, "meters", assoc, align="sim3"),
    ]


def extra_cases():
    """Further options of evo, exercised on fr2_desk only."""
    interp = dict(NEAREST, method="interpolation")
    offset = dict(NEAREST, offset=0.004)
    wide = dict(NEAREST, max_diff=0.02)
    return [
        ape("ape_translation_scale_only", "translation_part", align="scale"),
        ape("ape_translation_se3_first_100", "translation_part", align="se3", n=100),
        ape("ape_translation_sim3_first_100", "translation_part", align="sim3", n=100),
        ape("ape_translation_origin", "translation_part", align="origin"),
        ape("ape_rotation_deg_origin", "rotation_angle_deg", align="origin"),
        ape("ape_translation_se3_interpolated", "translation_part", interp, align="se3"),
        ape("ape_rotation_deg_se3_interpolated", "rotation_angle_deg", interp, align="se3"),
        ape("ape_translation_se3_offset", "translation_part", offset, align="se3"),
        ape("ape_translation_se3_max_diff_0.02", "translation_part", wide, align="se3"),
        rpe("rpe_rotation_rad_1frame", "rotation_angle_rad", 1, "frames"),
        rpe("rpe_rotation_part_5frames", "rotation_part", 5, "frames"),
        rpe("rpe_translation_0.5m_from_reference", "translation_part", 0.5, "meters",
            pairs_from_reference=True),
        rpe("rpe_translation_10deg", "translation_part", 10, "degrees"),
        rpe("rpe_rotation_deg_0.2rad", "rotation_angle_deg", 0.2, "radians"),
        rpe("rpe_translation_10deg_all_pairs", "translation_part", 10, "degrees", all_pairs=True),
    ]


SEQUENCES = [
    {
        "name": "fr2_desk",
        "reference": {"file": "fr2_desk_groundtruth.txt", "format": "tum"},
        "estimate": {"file": "fr2_desk_ORB.txt", "format": "tum"},
        "cases": standard_cases(NEAREST, 1.0) + extra_cases(),
    },
    {
        "name": "euroc_v102",
        "reference": {"file": "V102_groundtruth.csv", "format": "euroc"},
        "estimate": {"file": "V102.txt", "format": "tum"},
        "cases": standard_cases(NEAREST, 1.0),
    },
    {
        "name": "freiburg1_xyz",
        "reference": {"file": "freiburg1_xyz-groundtruth.txt", "format": "tum"},
        "estimate": {"file": "freiburg1_xyz-rgbdslam.txt", "format": "tum"},
        "cases": standard_cases(NEAREST, 0.5),
    },
    {
        "name": "kitti_00",
        "reference": {"file": "KITTI_00_gt.txt", "format": "kitti", "times": "KITTI_00_gt_times.txt"},
        "estimate": {"file": "KITTI_00_ORB.txt", "format": "kitti", "times": "KITTI_00_gt_times.txt"},
        "cases": standard_cases(None, 100.0),
    },
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.path.join(ROOT, "..", "shared", "data", "real"))
    parser.add_argument("--out", default=os.path.join(ROOT, "calibration", "tests", "fixtures", "evo"))
    parser.add_argument("--any-version", action="store_true", help="run under another evo version")
    args = parser.parse_args()

    version = importlib.metadata.version("evo")
    if version != EVO_VERSION and not args.any_version:
        sys.exit(f"evo {version} is installed; the fixtures follow evo {EVO_VERSION} (see --any-version)")

    os.makedirs(args.out, exist_ok=True)
    for seq in SEQUENCES:
        ref = read(args.data_dir, seq["reference"])
        est = read(args.data_dir, seq["estimate"])
        doc = {
            "evo_version": version,
            "numpy_version": importlib.metadata.version("numpy"),
            "scipy_version": importlib.metadata.version("scipy"),
            "generator": "scripts/gen_evo_fixtures.py",
            "sequence": seq["name"],
            "reference": seq["reference"],
            "estimate": seq["estimate"],
            "cases": [run_case(ref, est, case) for case in seq["cases"]],
        }
        path = os.path.join(args.out, seq["name"] + ".json")
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print(f"wrote {path} ({len(doc['cases'])} cases)")


if __name__ == "__main__":
    main()
