//! An episode recording (`alignrl_viz::record`) is a valid `.rrd` file: rerun's own decoder
//! (`re_log_encoding`) reads it back, and it holds the static geometry of every scene shape, one
//! pose per shape per step on the `step` timeline, the goal, and the rewards with their values.

use std::collections::BTreeMap;
use std::io::BufReader;

use alignrl_envs::scene::ScenePose;
use alignrl_envs::{Env, EnvRng, Info, make};
use alignrl_viz::record::{EpisodeRecorder, GOAL_ENTITY, REWARD_ENTITY, TIMELINE, shape_entity};
use rand::SeedableRng;
use re_log_encoding::DecoderApp;
use rerun::log::{Chunk, LogMsg};

#[derive(Debug, Default)]
struct EntityRows {
    static_rows: usize,
    steps: Vec<i64>,
}

/// Records `steps` random-action steps of `id`; returns the file and the rewards.
fn record(id: &str, steps: usize, path: &std::path::Path) -> (Vec<f64>, Vec<ScenePose>) {
    let mut env = make(id).unwrap();
    let mut obs = vec![0.0; env.observation_space().packed_len()];
    let mut act = vec![0.0; env.action_space().packed_len()];
    let mut info = Info::new();
    let mut rng = EnvRng::seed_from_u64(0);
    env.reset(Some(1), &mut obs, &mut info).unwrap();
    let mut rec = EpisodeRecorder::new(id, env.scene().unwrap()).unwrap();
    rec.record(0, env.scene().unwrap(), None).unwrap();
    let mut rewards = Vec::new();
    for t in 1..=steps {
        env.action_space().sample_packed(&mut rng, &mut act);
        info.clear();
        let s = env.step(&act, &mut obs, &mut info).unwrap();
        rewards.push(s.reward);
        rec.record(t as i64, env.scene().unwrap(), Some(s.reward)).unwrap();
    }
    assert_eq!(rec.frames(), steps as u64 + 1);
    let scene = env.scene().unwrap();
    let mut last = vec![([0.0; 3], [0.0; 4]); scene.shapes().len()];
    scene.poses(&mut last);
    let bytes = rec.finish(path).unwrap();
    assert_eq!(std::fs::metadata(path).unwrap().len() as usize, bytes);
    (rewards, last)
}

#[test]
fn recording_reads_back_with_rerun_decoder() {
    let dir = std::env::temp_dir().join(format!("alignrl-viz-rrd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("reacher.rrd");
    let steps = 25;
    let (rewards, last_poses) = record("Reacher3D-v0", steps, &path);
    let shapes = make("Reacher3D-v0").unwrap().scene().unwrap().shapes();

    let file = std::fs::File::open(&path).unwrap();
    let decoder = DecoderApp::decode_eager(BufReader::new(file)).expect("an .rrd file");
    let mut rows: BTreeMap<String, EntityRows> = BTreeMap::new();
    let mut decoded_rewards: Vec<(i64, f64)> = Vec::new();
    let mut last_translation: BTreeMap<String, (i64, [f32; 3])> = BTreeMap::new();
    let mut messages = 0;
    let timeline = rerun::TimelineName::try_new(TIMELINE).unwrap();
    let scalar = rerun::Scalars::descriptor_scalars().component;
    let translation = rerun::Transform3D::descriptor_translation().component;
    for msg in decoder {
        messages += 1;
        let LogMsg::ArrowMsg(_, arrow) = msg.expect("decodes") else { continue };
        let chunk = Chunk::from_arrow_msg(&arrow).expect("a chunk");
        let entity = chunk.entity_path().to_string().trim_start_matches('/').to_string();
        let e = rows.entry(entity.clone()).or_default();
        if chunk.is_static() {
            e.static_rows += chunk.num_rows();
            continue;
        }
        let times: Vec<i64> = chunk.iter_indices(&timeline).map(|(t, _)| t.as_i64()).collect();
        assert_eq!(times.len(), chunk.num_rows(), "{entity}: rows without a step time");
        e.steps.extend(&times);
        for (t, v) in times.iter().zip(chunk.iter_slices::<f64>(scalar)) {
            decoded_rewards.push((*t, v[0]));
        }
        for (t, v) in times.iter().zip(chunk.iter_component::<rerun::components::Translation3D>(translation))
        {
            let p = v[0].0;
            let slot = last_translation.entry(entity.clone()).or_insert((i64::MIN, [0.0; 3]));
            if *t >= slot.0 {
                *slot = (*t, [p.x(), p.y(), p.z()]);
            }
        }
    }
    assert!(messages > 0);

    let all_steps: Vec<i64> = (0..=steps as i64).collect();
    for (shape, (t, _)) in shapes.iter().zip(&last_poses) {
        let name = shape_entity(&shape.name);
        let keys: Vec<String> = rows.keys().cloned().collect();
        let e = rows.get_mut(&name).unwrap_or_else(|| panic!("no entity {name}; have {keys:?}"));
        assert!(e.static_rows >= 1, "{name}: no static geometry");
        e.steps.sort_unstable();
        assert_eq!(e.steps, all_steps, "{name}: one pose per step");
        let (last_t, p) = last_translation[&name];
        assert_eq!(last_t, steps as i64);
        assert_eq!(&p, t, "{name}: last logged translation");
    }
    let goal = rows.get_mut(GOAL_ENTITY).expect("goal entity");
    goal.steps.sort_unstable();
    assert_eq!(goal.steps, all_steps);
    decoded_rewards.sort_by_key(|(t, _)| *t);
    let expected: Vec<(i64, f64)> = rewards.iter().enumerate().map(|(k, r)| (k as i64 + 1, *r)).collect();
    assert_eq!(decoded_rewards, expected, "reward series");
    assert!(rows.contains_key(REWARD_ENTITY));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_control_task_records() {
    let dir = std::env::temp_dir().join(format!("alignrl-viz-rrd-all-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for id in ["CartpoleSwingup-v0", "PointMass-v0"] {
        let path = dir.join(format!("{id}.rrd"));
        record(id, 5, &path);
        let file = std::fs::File::open(&path).unwrap();
        let msgs: Vec<LogMsg> =
            DecoderApp::decode_eager(BufReader::new(file)).unwrap().map(|m| m.unwrap()).collect();
        let n = msgs.len();
        assert!(n > 1, "{id}: {n} messages");
    }
    std::fs::remove_dir_all(&dir).ok();
}
