//! The dashboard in a real browser: headless Chromium, driven over
//! WebDriver by `chromedriver` (Debian `chromium` + `chromium-driver`),
//! against `orderpulse serve` fed by the simulator on a real broker.
//!
//! It checks that the overview's charts show data, that a drill-down filter
//! changes the numbers, that the SQL console runs a query and shows rows,
//! and that an event whose `error_message` is `<img src=x onerror=...>`
//! appears as inert text (no element made of it, no script run). Screenshots
//! of every page go to `$CARGO_TARGET_TMPDIR/screenshots/` (or
//! `ORDERPULSE_SCREENSHOTS_DIR`).

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{Value, json};

use crate::support::TansuBroker;
use crate::support::http;
use crate::support::process::{Running, free_addr};

const TOPIC: &str = "order-attempts";
const HOSTILE: &str = "<img src=x onerror=\"document.title='pwned'\">";

/// A `chromedriver` process and one headless Chromium session on it.
struct Browser {
    driver: SocketAddr,
    session: String,
    _process: Running,
}

fn chromedriver() -> PathBuf {
    for path in ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"] {
        if Path::new(path).exists() {
            return PathBuf::from(path);
        }
    }
    panic!(
        "chromedriver not found: install Chromium and its driver \
         (Debian: apt-get install chromium chromium-driver; .ci/run does it)"
    );
}

impl Browser {
    fn start(log: &Path) -> Browser {
        let driver = free_addr();
        let process = Running(
            Command::new(chromedriver())
                .arg(format!("--port={}", driver.port()))
                .stdout(Stdio::null())
                .stderr(File::create(log).unwrap())
                .spawn()
                .expect("start chromedriver"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(driver).is_err()
            || webdriver(driver, "GET", "/status", None).1["value"]["ready"] != true
        {
            assert!(Instant::now() < deadline, "chromedriver never ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1100"],
            },
        }}});
        let (_, v) = webdriver(driver, "POST", "/session", Some(caps));
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        Browser {
            driver,
            session,
            _process: process,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let (status, v) = webdriver(self.driver, method, &path, body);
        assert_eq!(status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page and returns its value.
    fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Polls `script` until it returns something truthy; its last value.
    #[track_caller]
    fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.js(script);
            if !(v.is_null() || v == false || v == 0 || v == "") {
                return v;
            }
            assert!(Instant::now() < deadline, "waited 30 s for {what}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn screenshot(&self, dir: &Path, name: &str) {
        let png = self.call("GET", "/screenshot", None);
        let bytes = base64(png.as_str().expect("base64 text"));
        assert!(bytes.starts_with(b"\x89PNG"), "{name}: not a PNG");
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = webdriver(self.driver, "DELETE", &path, None);
    }
}

/// One WebDriver call: chromedriver keeps connections open, so the answer
/// is read up to its `Content-Length`, not to the end of the stream.
fn webdriver(driver: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    use std::io::{BufRead, BufReader, Read, Write};
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut s = std::net::TcpStream::connect(driver).expect("connect to chromedriver");
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {driver}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header");
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("length");
        }
    }
    let mut answer = vec![0; length];
    reader.read_exact(&mut answer).expect("body");
    let v = serde_json::from_slice(&answer)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e})"));
    (status, v)
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, c)| acc | (value(*c) << (18 - 6 * i)));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

fn log_text(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

fn screenshots_dir() -> PathBuf {
    let dir = std::env::var_os("ORDERPULSE_SCREENSHOTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_dashboard_in_headless_chromium_shows_data_filters_runs_sql_and_keeps_event_text_inert() {
    let browser_log =
        std::env::temp_dir().join(format!("op-chromedriver-{}.log", std::process::id()));
    let driver_path = chromedriver(); // fail first, with the install hint
    assert!(driver_path.exists());
    let broker = TansuBroker::start();
    broker.create_topic(TOPIC, 2);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let addr = free_addr();
    let serve = Running(
        Command::new(env!("CARGO_BIN_EXE_orderpulse"))
            .args(["serve", "--brokers", &broker.bootstrap(), "--topic", TOPIC])
            .args(["--data-dir", dir.path().join("data").to_str().unwrap()])
            .args([
                "--dlq-topic",
                "",
                "--http-addr",
                &addr.to_string(),
                "--pg-addr",
                "",
            ])
            .env(
                "ORDERPULSE_USER_KEY_SECRET",
                "browser-test-secret-0123456789",
            )
            .env_remove("ORDERPULSE_API_TOKEN")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("start serve"),
    );
    serve.wait_ready(addr, &log);

    // Ten minutes of simulated traffic (with an outage and malformed
    // records), event times ending now, produced as fast as the broker takes.
    let start = chrono::Utc::now() - chrono::Duration::minutes(10);
    let sim = Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args([
            "simulate",
            "--brokers",
            &broker.bootstrap(),
            "--topic",
            TOPIC,
        ])
        .args([
            "--rate",
            "40",
            "--duration",
            "10m",
            "--pace",
            "fast",
            "--seed",
            "7",
        ])
        .args(["--start", &start.to_rfc3339()])
        .args([
            "--scenario",
            "payment-outage:method=wechat_pay,at=5m,for=4m,factor=8",
        ])
        .args(["--scenario", "malformed:share=0.01,oversized=0"])
        .output()
        .expect("run simulate");
    assert!(
        sim.status.success(),
        "simulate: {}",
        String::from_utf8_lossy(&sim.stderr)
    );
    // One hostile event, as a client could send it.
    let producer: BaseProducer = broker.client_config().create().expect("producer");
    let event = json!({
        "event_id": "xss-1", "ts": chrono::Utc::now().timestamp_millis() - 30_000,
        "outcome": "failure", "channel": "web", "failure_cause": "network_error",
        "payment_method": "alipay", "error_message": HOSTILE,
    })
    .to_string();
    producer
        .send(BaseRecord::to(TOPIC).key("xss").payload(&event))
        .expect("queue");
    producer
        .flush(Duration::from_secs(10))
        .expect("acknowledged");
    let deadline = Instant::now() + Duration::from_secs(60);
    let sql = json!({"sql": "SELECT count(*) FROM order_attempts WHERE event_id = 'xss-1'"});
    while http::post_json(addr, "/api/sql", &[], sql.to_string().as_bytes())
        .is_none_or(|r| r.json()["rows"][0][0] != 1)
    {
        assert!(
            Instant::now() < deadline,
            "the hostile event never arrived:\n{}",
            log_text(&log)
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    eprintln!("browser test: events stored; starting the browser");
    let shots = screenshots_dir();
    let b = Browser::start(&browser_log);
    let base = format!("http://{addr}");

    // Overview: numbers, a drawn chart, bars and heat-map cells.
    b.open(&format!("{base}/#/overview?range=15m"));
    let attempts = b.wait_for(
        "overview numbers",
        "const v = document.querySelector('.stat-value'); \
         return v && v.textContent.replace(/,/g, '') > 0 ? Number(v.textContent.replace(/,/g, '')) : 0;",
    );
    assert!(attempts.as_f64().unwrap() > 1000.0, "{attempts}");
    let seen = b.wait_for(
        "charts with data",
        "const canvas = document.querySelector('.chart canvas'); \
         const cells = document.querySelectorAll('table.heat td.cell').length; \
         const bars = document.querySelectorAll('.bars li').length; \
         const series = document.querySelectorAll('.chart .u-legend .u-series').length; \
         return canvas && canvas.width > 0 && cells > 5 && bars > 5 && series > 2 \
             ? {cells, bars, series} : null;",
    );
    assert!(seen["cells"].as_u64().unwrap() > 5, "{seen}");
    b.screenshot(&shots, "overview");

    eprintln!("browser test: overview checked");
    // Drill-down: picking a channel in the filter changes the numbers.
    b.open(&format!("{base}/#/drill?range=15m"));
    let all = b.wait_for(
        "drill-down numbers",
        "const v = document.querySelector('.stat-value'); \
         return v && Number(v.textContent.replace(/,/g, '')) > 0 ? Number(v.textContent.replace(/,/g, '')) : 0;",
    );
    b.wait_for(
        "channel options",
        "return document.querySelectorAll('#filter-channel option').length > 2;",
    );
    b.js(
        "const s = document.querySelector('#filter-channel'); s.value = 'web'; \
         s.dispatchEvent(new Event('change'));",
    );
    let web = b.wait_for(
        "filtered numbers",
        &format!(
            "const v = document.querySelector('.stat-value'); \
             const n = v ? Number(v.textContent.replace(/,/g, '')) : 0; \
             return location.hash.includes('channel=web') && n > 0 && n !== {all} ? n : 0;"
        ),
    );
    assert!(
        web.as_f64().unwrap() < all.as_f64().unwrap(),
        "web {web} of {all}"
    );
    // The hostile message among the newest failures of the slice: text.
    b.open(&format!(
        "{base}/#/drill?range=15m&channel=web&failure_cause=network_error"
    ));
    let inert = b.wait_for(
        "the hostile message as text",
        &format!(
            "const cells = [...document.querySelectorAll('main td')]; \
             const hit = cells.find(td => td.textContent === {hostile}); \
             return hit ? {{children: hit.children.length, imgs: document.querySelectorAll('main img').length, title: document.title}} : null;",
            hostile = serde_json::to_string(HOSTILE).unwrap()
        ),
    );
    assert_eq!(
        inert,
        json!({"children": 0, "imgs": 0, "title": "orderpulse"})
    );
    b.screenshot(&shots, "drill-down");

    eprintln!("browser test: drill-down checked");
    // SQL console: run a query, see rows (the hostile text among them, inert).
    b.open(&format!("{base}/#/sql"));
    b.wait_for(
        "the editor",
        "return !!document.querySelector('#sql-editor');",
    );
    b.js("document.querySelector('#sql-editor').value = \
         \"SELECT event_id, channel, error_message FROM order_attempts \
           ORDER BY CASE WHEN event_id = 'xss-1' THEN 0 ELSE 1 END, ts DESC LIMIT 20\"; \
         document.querySelector('#sql-run').click();");
    let rows = b.wait_for(
        "result rows",
        "return document.querySelectorAll('main tbody tr').length;",
    );
    assert!(rows.as_u64().unwrap() >= 2, "{rows}");
    let inert = b.js(&format!(
        "const hit = [...document.querySelectorAll('main td')].find(td => td.textContent === {}); \
         return {{found: !!hit, imgs: document.querySelectorAll('main img').length, title: document.title}};",
        serde_json::to_string(HOSTILE).unwrap()
    ));
    assert_eq!(
        inert,
        json!({"found": true, "imgs": 0, "title": "orderpulse"})
    );
    b.screenshot(&shots, "sql-console");
    // An error is shown, not swallowed.
    b.js(
        "document.querySelector('#sql-editor').value = 'DROP TABLE order_attempts'; \
         document.querySelector('#sql-run').click();",
    );
    let error = b.wait_for(
        "the error text",
        "const e = document.querySelector('#sql-error .error'); return e ? e.textContent : '';",
    );
    assert!(error.as_str().unwrap().contains("read-only"), "{error}");

    eprintln!("browser test: SQL console checked");
    // Rejected records and runbooks render.
    b.open(&format!("{base}/#/rejected?range=15m"));
    b.wait_for(
        "rejected samples",
        "return document.querySelectorAll('main tbody tr').length > 0 && !!document.querySelector('.chart canvas');",
    );
    b.screenshot(&shots, "rejected");
    b.open(&format!("{base}/#/runbooks"));
    b.wait_for(
        "runbooks",
        "return document.querySelectorAll('.runbook').length >= 10;",
    );
    b.screenshot(&shots, "runbooks");
    for name in [
        "overview",
        "drill-down",
        "sql-console",
        "rejected",
        "runbooks",
    ] {
        assert!(shots.join(format!("{name}.png")).exists());
    }
    let _ = std::fs::remove_file(&browser_log);
}
