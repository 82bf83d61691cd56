//! What the exporter tests share: processes they start (acr-sync-sli serve, Pushgateway,
//! node_exporter), each killed and reaped on drop, bounded HTTP waits on loopback, a
//! reader for the text exposition, and `promtool check metrics`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acr_sync_testkit::{MediaKind, Registry, TestIndex};

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
        let port = acr_sync_testkit::free_port();
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
                async move { get(&url).await.is_some_and(|(code, _)| code == 200) }
            },
        )
        .await;
        d
    }

    /// Starts `acr-sync-sli serve` in `dir` on a loopback port it picks, and reads the
    /// address it prints.
    pub async fn serve(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut all = vec!["serve".to_string(), "--listen".into(), "127.0.0.1:0".into()];
        all.extend(args.iter().map(|s| s.to_string()));
        let d = Daemon::spawn(
            "acr-sync-sli",
            Path::new(env!("CARGO_BIN_EXE_acr-sync-sli")),
            &all,
            dir,
            env,
        );
        d.listening().await
    }

    /// [`Daemon::serve`] under `prlimit --nofile=N`: at most `nofile` open descriptors.
    pub async fn serve_with_nofile(dir: &Path, nofile: u32, args: &[&str]) -> Daemon {
        let mut all = vec![
            format!("--nofile={nofile}:{nofile}"),
            "--".to_string(),
            env!("CARGO_BIN_EXE_acr-sync-sli").to_string(),
            "serve".to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let d = Daemon::spawn("acr-sync-sli", Path::new("prlimit"), &all, dir, &[]);
        d.listening().await
    }

    /// Waits (bounded) until serve prints where it listens.
    async fn listening(self) -> Daemon {
        let mut d = self;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(addr) = d
                .log_text()
                .split("serving http://")
                .nth(1)
                .and_then(|r| r.split('/').next())
            {
                d.base_url = format!("http://{addr}");
                return d;
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("acr-sync-sli serve exited with {status}:\n{}", d.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "serve did not say where it listens:\n{}",
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
            if let Some((200, text)) = get(&format!("{}/metrics", self.base_url)).await {
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
pub async fn get(url: &str) -> Option<(u16, String)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let response = client.get(url).send().await.ok()?;
    let code = response.status().as_u16();
    Some((code, response.text().await.ok()?))
}

/// The value of the sample `series` (its name and labels exactly as the exposition writes
/// them), if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(s, _)| *s == series)
        .map(|(_, v)| v.parse().unwrap())
}

/// The sum of every sample of metric `name`, whatever its labels.
pub fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(_, v)| v.parse::<f64>().unwrap())
        .sum()
}

/// Passes an exposition through `promtool check metrics`, which must have nothing to say.
pub fn promtool_check_metrics(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (apt-get install -y prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}\n---\n{text}"
    );
}

/// Upstream code collections `images/cc-a` and `images/cc-b`: `main-latest` and its
/// stable sibling tag (`main-aaaaaaa`, `main-bbbbbbb`); returns the indexes.
pub async fn push_codecollections(upstream: &Registry) -> (TestIndex, TestIndex) {
    let p = upstream.pusher();
    let a = TestIndex::multi_arch(61, MediaKind::Oci, false);
    let b = TestIndex::multi_arch(62, MediaKind::Oci, false);
    p.push_index("images/cc-a", "main-latest", &a).await;
    p.tag("images/cc-a", &a.digest, "main-aaaaaaa").await;
    p.push_index("images/cc-b", "main-latest", &b).await;
    p.tag("images/cc-b", &b.digest, "main-bbbbbbb").await;
    (a, b)
}

/// `dir/workspace.yaml` for code collections `images` under `upstream_host`.
pub fn config(dir: &Path, upstream_host: &str, target: &Registry, images: &str) {
    let yaml = format!(
        "target: {{registry: \"{}\"}}\ncodecollections:\n  source: \"{upstream_host}/images\"\n  images: [{images}]\nnetwork: {{retry_for: 1s}}\n",
        target.host()
    );
    std::fs::write(dir.join("workspace.yaml"), yaml).unwrap();
}
