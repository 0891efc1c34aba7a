//! The AFL++ harness: `fuzz <target>` runs one target of `fuzz_targets::TARGETS` on what
//! afl-fuzz feeds it (persistent mode); `fuzz --list` names them; `fuzz --seeds <target>
//! <dir> <repo>` writes the target's seeds into `dir`. Built and run by `cargo xtask fuzz`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--list") => {
            for t in fuzz_targets::TARGETS {
                println!("{}\t{}", t.name, t.about);
            }
        }
        Some("--seeds") => {
            let (Some(name), Some(dir), Some(repo)) = (args.get(1), args.get(2), args.get(3)) else {
                eprintln!("usage: fuzz --seeds <target> <dir> <repo root>");
                std::process::exit(2);
            };
            let (seeds, missing) = fuzz_targets::seeds(name, std::path::Path::new(repo));
            for m in missing {
                eprintln!("seed source missing for {name}: {m}");
            }
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("cannot create {dir}: {e}");
                std::process::exit(1);
            }
            for (i, s) in seeds.iter().enumerate() {
                if let Err(e) = std::fs::write(std::path::Path::new(dir).join(format!("seed-{i:03}")), s) {
                    eprintln!("cannot write a seed into {dir}: {e}");
                    std::process::exit(1);
                }
            }
            println!("{}", seeds.len());
        }
        Some(name) => {
            let Some(t) = fuzz_targets::target(name) else {
                eprintln!("no fuzz target {name:?}; `fuzz --list` names them");
                std::process::exit(2);
            };
            let run = t.run;
            afl::fuzz!(|data: &[u8]| run(data));
        }
        None => {
            eprintln!("usage: fuzz <target> | --list | --seeds <target> <dir> <repo root>");
            std::process::exit(2);
        }
    }
}
