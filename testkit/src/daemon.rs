//! Processes a test starts (a Pushgateway, node_exporter, one of our own binaries), each
//! with its output in a log file, SIGKILLed and reaped when dropped, and bounded waits on
//! what they serve over loopback HTTP.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process started by a test; SIGKILLed and reaped when dropped.
pub struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
}

impl Daemon {
    /// Starts `program` with `args`; its stdout and stderr go to `dir/<name>.log`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        dir: &Path,
        env: &[(&str, &str)],
    ) -> Daemon {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e} (is it installed? see scripts/test)",
                program.display()
            )
        });
        Daemon {
            name: name.to_string(),
            child,
            log,
            base_url: String::new(),
        }
    }

    /// Starts a Prometheus-family server (`prometheus-pushgateway`, `prometheus-node-exporter`)
    /// on a free loopback port and waits until its /metrics answers.
    pub async fn prometheus_tool(program: &str, extra: &[&str], dir: &Path) -> Daemon {
        let port = crate::free_port();
        let mut args = vec![format!("--web.listen-address=127.0.0.1:{port}")];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut d = Daemon::spawn(program, Path::new(program), &args, dir, &[]);
        d.base_url = format!("http://127.0.0.1:{port}");
        let url = format!("{}/metrics", d.base_url);
        d.wait_until(
            &format!("{program} answers"),
            Duration::from_secs(20),
            || {
                let url = url.clone();
                async move { http_get(&url).await.is_some_and(|(code, _)| code == 200) }
            },
        )
        .await;
        d
    }

    /// Waits (bounded) until the process prints `marker` followed by its address (as
    /// `serving http://127.0.0.1:PORT/` is printed), and sets [`Daemon::base_url`] from it.
    pub async fn listening(self, marker: &str) -> Daemon {
        let mut d = self;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(addr) = d
                .log_text()
                .split(marker)
                .nth(1)
                .and_then(|r| r.split(['/', ' ', '\n']).next())
            {
                d.base_url = format!("http://{addr}");
                return d;
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("{} exited with {status}:\n{}", d.name, d.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not say where it listens:\n{}",
                d.name,
                d.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the process printed so far.
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the exit code.
    pub fn terminate(&mut self, within: Duration) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM");
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{} did not exit within {within:?} of SIGTERM:\n{}",
            self.name,
            self.log_text()
        );
    }

    /// Polls `probe` every 100 ms until it holds; panics with the process log after `limit`.
    pub async fn wait_until<F, Fut>(&self, what: &str, limit: Duration, mut probe: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if probe().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{what}: not within {limit:?}; {} log:\n{}",
            self.name,
            self.log_text()
        );
    }

    /// Fetches /metrics until `holds` is true of it; returns that exposition.
    pub async fn metrics_until(
        &self,
        what: &str,
        limit: Duration,
        holds: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Some((200, text)) = http_get(&format!("{}/metrics", self.base_url)).await {
                if holds(&text) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{what}: not within {limit:?}\n--- last /metrics ---\n{last}\n--- {} log ---\n{}",
            self.name,
            self.log_text()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log_text());
        }
    }
}

/// GET `url` on loopback: status and body, `None` when nothing answered within 5 s.
pub async fn http_get(url: &str) -> Option<(u16, String)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let response = client.get(url).send().await.ok()?;
    let code = response.status().as_u16();
    Some((code, response.text().await.ok()?))
}
