//! One JSON POST to a receiver, and whether a failure is worth retrying.

use std::time::Duration;

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Delivered,
    /// The receiver is down, overloaded or slow: try again later.
    Retry(String),
    /// The receiver refused this payload (a 4xx other than 408/429):
    /// sending it again would be refused again.
    Refused(String),
}

/// An HTTP client for receivers: rustls with the webpki roots (no system
/// OpenSSL), a connect and a whole-request timeout, no redirects (a
/// receiver that moved is a configuration error, shown in the log).
pub(crate) fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("orderpulse/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// POSTs `body` (JSON) to `url`.
pub(crate) async fn post_json(client: &reqwest::Client, url: &str, body: Vec<u8>) -> Outcome {
    let sent = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    match sent {
        Err(e) => Outcome::Retry(format!("{url}: {}", without_url(&e))),
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                return Outcome::Delivered;
            }
            // The receiver's reason, bounded: it lands in our log.
            let text = response.text().await.unwrap_or_default();
            let reason: String = text.chars().take(200).collect();
            let message = format!("{url}: HTTP {status}: {}", reason.trim());
            let code = status.as_u16();
            if status.is_server_error() || code == 408 || code == 429 {
                Outcome::Retry(message)
            } else {
                Outcome::Refused(message)
            }
        }
    }
}

/// reqwest's error text without the URL (the caller prints it once).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The wait before retry number `attempt` (0-based): 0.5 s doubling to
/// `max`, with up to 25 % jitter so that several orderpulse processes do not
/// retry in step.
pub(crate) fn backoff(attempt: u32, max: Duration) -> Duration {
    let base = Duration::from_millis(500)
        .saturating_mul(1u32 << attempt.min(16))
        .min(max);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = base.mul_f64(f64::from(nanos % 250) / 1000.0);
    base + jitter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let max = Duration::from_secs(30);
        let b0 = backoff(0, max);
        assert!(b0 >= Duration::from_millis(500) && b0 <= Duration::from_millis(625));
        let b3 = backoff(3, max);
        assert!(b3 >= Duration::from_secs(4) && b3 <= Duration::from_secs(5));
        for attempt in [7, 20, 1000] {
            let b = backoff(attempt, max);
            assert!(b >= max && b <= max.mul_f64(1.25), "{attempt}: {b:?}");
        }
    }
}
