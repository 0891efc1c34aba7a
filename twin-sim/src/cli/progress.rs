//! Progress on long commands, on stderr, shown only when stderr is a terminal (so piped
//! output and tests stay clean).

/// A bar over a known count of steps, or a spinner for one long step.
pub struct Progress {
    #[cfg(not(target_arch = "wasm32"))]
    bar: indicatif::ProgressBar,
}

impl Progress {
    /// A bar of `len` steps, labelled with what is counted.
    pub fn bar(len: u64, what: &str) -> Progress {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let bar = indicatif::ProgressBar::new(len);
            if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})") {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what.to_owned());
            Progress { bar }
        }
        #[cfg(target_arch = "wasm32")]
        {
            let _ = (len, what);
            Progress {}
        }
    }

    /// A spinner for one step whose length is not known.
    pub fn spinner(what: &str) -> Progress {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message(what.to_owned());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            Progress { bar }
        }
        #[cfg(target_arch = "wasm32")]
        {
            let _ = what;
            Progress {}
        }
    }

    /// Says what is being done now.
    pub fn say(&self, what: &str) {
        #[cfg(not(target_arch = "wasm32"))]
        self.bar.set_message(what.to_owned());
        #[cfg(target_arch = "wasm32")]
        let _ = what;
    }

    /// Moves the bar to `pos` steps done.
    pub fn set(&self, pos: u64) {
        #[cfg(not(target_arch = "wasm32"))]
        self.bar.set_position(pos);
        #[cfg(target_arch = "wasm32")]
        let _ = pos;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        #[cfg(not(target_arch = "wasm32"))]
        self.bar.finish_and_clear();
    }
}
