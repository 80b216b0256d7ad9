//! One order and its attempts: the attributes that do not move failure
//! probabilities (region, locale, amount, user...) and the [`Event`] of
//! each attempt, plus the retry that may follow a failure.

use model::vocab::{Channel, FailureCause as Cause, Stage};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::catalog::{self, APP_VERSIONS, CURRENCIES, LOCALES, NETWORKS, REGIONS};
use super::event::{Event, Field, SPELLINGS, TsForm};
use super::model::{
    CauseEffect, Model, Prev, Profile, retry_delay_median_ms, retry_probability, sample_cause,
    switch_probability,
};

/// Share of events written with a non-normalised vocabulary spelling.
const RESPELLED: f64 = 0.01;

/// An order being placed; retries are copies with `attempt` + 1.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    /// Scrambled order number: the `order_id` (and Kafka key) is derived from it.
    pub(crate) key: u64,
    pub(crate) session: u64,
    pub(crate) profile: Profile,
    pub(crate) user: Option<u32>,
    pub(crate) region: u8,
    pub(crate) locale: &'static str,
    pub(crate) amount_minor: i64,
    pub(crate) attempt: u8,
    pub(crate) prev: Option<Prev>,
}

/// Share of guest checkouts (no `user_id`) per channel.
const GUESTS: [f64; 5] = [0.25, 0.30, 0.05, 0.06, 0.02];

impl Order {
    /// A new order; `key` and `session` are unique per order.
    pub(crate) fn sample(model: &Model, key: u64, session: u64, rng: &mut impl Rng) -> Order {
        let profile = model.sample_profile(rng);
        let user = if rng.random::<f64>() < GUESTS[profile.channel.index()] {
            None
        } else {
            // A few heavy buyers and a long tail.
            let r: f64 = rng.random();
            Some(10_000_000 + (r * r * 4_000_000.0) as u32)
        };
        let region = pick_by(REGIONS, |r| r.1, rng);
        let (_, _, currency, locales) = REGIONS[region];
        let locale = LOCALES[locales][pick_by(LOCALES[locales], |l| l.1, rng)].0;
        let median = CURRENCIES[currency].1;
        let z: f64 = StandardNormal.sample(rng);
        let mut amount = (median * (0.85 * z).exp()).round() as i64;
        if rng.random::<f64>() < 0.7 {
            amount = amount / 100 * 100; // whole yuan/dollars
        }
        Order {
            key,
            session,
            profile,
            user,
            region: region as u8,
            locale,
            amount_minor: amount.clamp(100, 50_000_000),
            attempt: 1,
            prev: None,
        }
    }

    pub(crate) fn currency(&self) -> &'static str {
        CURRENCIES[REGIONS[usize::from(self.region)].2].0
    }
}

/// The event of one attempt of `order` at `t_ms` under the active incident
/// `effects`.
pub(crate) fn attempt(
    model: &Model,
    order: &Order,
    t_ms: i64,
    id: (u64, u64),
    tz_offset_minutes: i32,
    effects: &[CauseEffect],
    rng: &mut impl Rng,
) -> Event {
    let p = &order.profile;
    let client = model.client(p);
    let hazards = model.hazards(p, order.prev, effects);
    let cause = sample_cause(&hazards, rng);
    let (_, _, net_latency) = NETWORKS[usize::from(p.network)];
    let stage = match cause {
        None => Stage::Confirmation,
        Some(c) => {
            let stages = catalog::stages(c);
            stages[pick_by(stages, |s| s.1, rng)].0
        }
    };
    let error = cause.and_then(|c| {
        if c == Cause::Unknown && rng.random::<f64>() < 0.3 {
            return None; // the client did not say
        }
        let texts = catalog::errors(c, p.method, p.channel);
        let (code, zh, en) = texts[rng.random_range(0..texts.len())];
        Some((
            code,
            if order.locale.starts_with("zh") {
                zh
            } else {
                en
            },
        ))
    });
    let latency_ms = latency(cause, p.channel, net_latency, rng);
    let region = REGIONS[usize::from(order.region)].0;
    let ts_form = if p.channel == Channel::AndroidApp && rng.random::<f64>() < 0.5 {
        TsForm::EpochMs
    } else if rng.random::<f64>() < 0.15 {
        TsForm::Utc
    } else {
        TsForm::Offset(region_offset(region, tz_offset_minutes))
    };
    // Browsers without the Network Information API cannot tell.
    let network = match client.browser {
        Some(b) if b.starts_with("Safari") || b.starts_with("Firefox") || b.starts_with("IE") => {
            None
        }
        _ => Some(NETWORKS[usize::from(p.network)].0),
    };
    let spelling = (rng.random::<f64>() < RESPELLED).then(|| {
        let fields = [
            Field::Outcome,
            Field::Channel,
            Field::PaymentMethod,
            Field::Stage,
            Field::FailureCause,
        ];
        let n = if cause.is_some() { 5 } else { 4 };
        (
            fields[rng.random_range(0..n)],
            rng.random_range(0..SPELLINGS),
        )
    });
    Event {
        id,
        ts_ms: t_ms,
        ts_form,
        cause,
        channel: p.channel,
        method: p.method,
        stage,
        order: order.key,
        session: order.session,
        user: order.user,
        error,
        region,
        locale: order.locale,
        app_version: client.app_version.map(|v| APP_VERSIONS[usize::from(v)].0),
        os: client.os,
        browser: client.browser,
        network,
        latency_ms,
        amount_minor: order.amount_minor,
        currency: order.currency(),
        attempt: order.attempt,
        spelling,
    }
}

/// After attempt `order.attempt` failed with `cause` at `t_ms`: maybe the
/// retry, and when it happens.
pub(crate) fn retry(
    model: &Model,
    order: &Order,
    cause: Cause,
    t_ms: i64,
    rng: &mut impl Rng,
) -> Option<(i64, Order)> {
    if rng.random::<f64>() >= retry_probability(cause, order.attempt) {
        return None;
    }
    let mut next = order.clone();
    next.attempt += 1;
    let mut switched = false;
    if rng.random::<f64>() < switch_probability(cause)
        && let Some(m) = model.sample_alternative(&order.profile, rng)
    {
        next.profile.method = m;
        switched = true;
    }
    next.prev = Some(Prev { cause, switched });
    let z: f64 = StandardNormal.sample(rng);
    let delay = retry_delay_median_ms(cause) * (0.6 * z).exp();
    Some((t_ms + delay.clamp(1_000.0, 900_000.0) as i64, next))
}

/// Latency of an attempt: log-normal around the cause's median, slower on
/// poor networks; network errors often end at a client timeout.
fn latency(cause: Option<Cause>, channel: Channel, network: f64, rng: &mut impl Rng) -> u32 {
    if cause == Some(Cause::NetworkError) && rng.random::<f64>() < 0.4 {
        const TIMEOUTS: [u32; 3] = [10_000, 15_000, 30_000];
        return TIMEOUTS[rng.random_range(0..3)] + rng.random_range(0..60);
    }
    let channel_factor = match channel {
        Channel::Web => 1.1,
        Channel::MobileWeb => 1.2,
        Channel::IosApp | Channel::AndroidApp => 0.9,
        Channel::WechatMiniProgram => 1.0,
    };
    let z: f64 = StandardNormal.sample(rng);
    let ms = catalog::median_latency_ms(cause) * network * channel_factor * (0.55 * z).exp();
    ms.clamp(5.0, 60_000.0) as u32
}

/// UTC offset in minutes of a region's shoppers; mainland regions follow
/// the configured offset.
fn region_offset(region: &str, tz_offset_minutes: i32) -> i32 {
    match region {
        "hk" | "sg" => 480,
        "us-west" => -480,
        "eu-central" => 60,
        _ => tz_offset_minutes,
    }
}

fn pick_by<T>(items: &[T], weight: impl Fn(&T) -> f64, rng: &mut impl Rng) -> usize {
    let total: f64 = items.iter().map(&weight).sum();
    let mut u = rng.random::<f64>() * total;
    for (i, item) in items.iter().enumerate() {
        let w = weight(item);
        if u < w {
            return i;
        }
        u -= w;
    }
    items.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn retries_follow_the_rules() {
        let model = Model::new();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut retried = 0;
        for i in 0..20_000 {
            let order = Order::sample(&model, i, i, &mut rng);
            assert!(order.amount_minor >= 100);
            assert_eq!(
                retry(&model, &order, Cause::InventoryUnavailable, 0, &mut rng).map(|r| r.0),
                None
            );
            if let Some((due, next)) =
                retry(&model, &order, Cause::PaymentMethodUnsupported, 0, &mut rng)
            {
                retried += 1;
                assert!(due >= 1_000);
                assert_eq!(next.attempt, 2);
                assert_eq!(next.key, order.key);
                let alternatives = model.alternatives(&order.profile);
                if alternatives.iter().sum::<f64>() > 0.0 {
                    assert_ne!(next.profile.method, order.profile.method);
                }
            }
        }
        assert!((11_000..15_000).contains(&retried), "{retried}");
        let mut third = Order::sample(&model, 1, 1, &mut rng);
        third.attempt = 3;
        assert!(retry(&model, &third, Cause::NetworkError, 0, &mut rng).is_none());
    }
}
