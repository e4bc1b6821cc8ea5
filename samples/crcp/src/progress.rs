// SPDX-License-Identifier: GPL-2.0

//! The progress bar: one line on standard error, redrawn in place with `\r` and `ESC [K`,
//! only when standard error is a terminal.

use std::{
    io::Write,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Totals the bar shows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub files_done: u64,
    pub files_total: u64,
}

/// The bar, and the lock that keeps error messages from landing in the middle of it.
pub struct Bar {
    enabled: bool,
    started: Instant,
    state: Mutex<BarState>,
}

struct BarState {
    visible: bool,
    last: Option<Instant>,
}

/// `1.5 MiB`, binary units as cp's `-h` users expect.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The terminal's width, or 80 columns where it has none worth the name.
fn term_width() -> usize {
    crate::sys::stderr_columns()
        .filter(|&cols| cols > 20)
        .unwrap_or(80)
}

/// The text of the bar for `c` after `elapsed`, at most `width` columns.
pub fn render(c: &Counts, elapsed: Duration, width: usize) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = c.bytes_done as f64 / secs;
    let eta = if c.bytes_done >= c.bytes_total {
        "0:00".to_string()
    } else if rate > 0.0 {
        clock(Duration::from_secs_f64(
            (c.bytes_total - c.bytes_done) as f64 / rate,
        ))
    } else {
        "--:--".to_string()
    };
    let frac = if c.bytes_total == 0 {
        if c.files_total == 0 {
            1.0
        } else {
            c.files_done as f64 / c.files_total as f64
        }
    } else {
        c.bytes_done as f64 / c.bytes_total as f64
    }
    .clamp(0.0, 1.0);
    let tail = format!(
        " {:>3.0}% {} / {}  {}/s  files {}/{}  ETA {}",
        frac * 100.0,
        human(c.bytes_done),
        human(c.bytes_total),
        human(rate as u64),
        c.files_done,
        c.files_total,
        eta
    );
    let room = width.saturating_sub(tail.len() + 3).min(40);
    if room < 5 {
        return tail
            .trim_start()
            .chars()
            .take(width.saturating_sub(1))
            .collect();
    }
    let full = (frac * room as f64).round() as usize;
    let mut bar = String::with_capacity(room + 2);
    bar.push('[');
    for i in 0..room {
        bar.push(if i < full {
            '#'
        } else if i == full {
            '>'
        } else {
            '.'
        });
    }
    bar.push(']');
    bar + &tail
}

impl Bar {
    /// A bar that draws only if `enabled` (standard error is a terminal).
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            started: Instant::now(),
            state: Mutex::new(BarState {
                visible: false,
                last: None,
            }),
        }
    }

    /// Redraws, at most every 100 ms unless `force`.
    pub fn draw(&self, c: &Counts, force: bool) {
        if !self.enabled {
            return;
        }
        let mut st = self.state.lock().unwrap();
        let now = Instant::now();
        if !force
            && st
                .last
                .is_some_and(|t| now - t < Duration::from_millis(100))
        {
            return;
        }
        st.last = Some(now);
        st.visible = true;
        let line = render(c, self.started.elapsed(), term_width());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{line}");
        let _ = err.flush();
    }

    /// Prints one message line (to standard error), clearing the bar first.
    pub fn message(&self, msg: &str) {
        let mut st = self.state.lock().unwrap();
        let mut err = std::io::stderr().lock();
        if st.visible {
            let _ = write!(err, "\r\x1b[K");
            st.visible = false;
            st.last = None;
        }
        let _ = writeln!(err, "{msg}");
    }

    /// Removes the bar from the screen.
    pub fn clear(&self) {
        let mut st = self.state.lock().unwrap();
        if st.visible {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            st.visible = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }

    #[test]
    fn bar_fits_the_width_and_shows_everything() {
        let c = Counts {
            bytes_done: 512 << 20,
            bytes_total: 1 << 30,
            files_done: 3,
            files_total: 10,
        };
        let line = render(&c, Duration::from_secs(4), 100);
        assert!(line.len() <= 100, "{line}");
        assert!(line.contains(" 50%"), "{line}");
        assert!(line.contains("512.0 MiB / 1.0 GiB"), "{line}");
        assert!(line.contains("128.0 MiB/s"), "{line}");
        assert!(line.contains("files 3/10"), "{line}");
        assert!(line.contains("ETA 0:04"), "{line}");
        let narrow = render(&c, Duration::from_secs(4), 30);
        assert!(narrow.len() < 30, "{narrow}");
    }
}
