//! physio-bench: simulates 24 h of patient time with the physiology model at a fixed step
//! and prints how much faster than real time it ran (`realtime_factor=<x>`).

use std::time::Instant;

use anyhow::Result;
use twin_sim::physiology::{Inputs, Model, fingerprint, step};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let hours: f64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(24.0);
    let dt_s: f64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(0.5);
    let mut model = Model::standard_adult()?;
    // A changing schedule, so the work is the realistic kind: an anaesthetic with bleeding,
    // fluids and a vasopressor, repeating every two hours.
    let phase = |t_min: f64| -> Inputs {
        let m = t_min % 120.0;
        let base = Inputs { propofol_mg_per_min: if m < 60.0 { 7.0 } else { 0.0 }, ..Inputs::default() };
        match m {
            m if (20.0..30.0).contains(&m) => Inputs { hemorrhage_l_per_min: 0.05, ..base },
            m if (30.0..40.0).contains(&m) => {
                Inputs { crystalloid_l_per_min: 0.05, phenylephrine_ug_per_min: 40.0, ..base }
            }
            _ => base,
        }
    };
    let steps = (hours * 3600.0 / dt_s).round() as u64;
    let start = Instant::now();
    let mut last = model.outputs(&Inputs::default());
    let mut trace = Vec::with_capacity(1024);
    for i in 0..steps {
        let t_min = i as f64 * dt_s / 60.0;
        last = step(&mut model, &phase(t_min), dt_s)?;
        if i % 10_000 == 0 {
            trace.push(last.map_mmhg);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let simulated = steps as f64 * dt_s;
    println!("simulated_s={simulated} steps={steps} dt_s={dt_s} wall_s={seconds:.4}");
    println!(
        "final hr={:.1} map={:.1} spo2={:.1} bis={:.1}",
        last.hr_per_min, last.map_mmhg, last.spo2_percent, last.bis
    );
    println!("trace_fingerprint={:016x}", fingerprint(trace));
    println!("realtime_factor={:.0}", simulated / seconds);
    Ok(())
}
