//! The traffic model: who checks out where, how they pay, how often each
//! failure cause strikes them, and what they do after a failure.
//!
//! Every attribute that moves a failure probability is part of a
//! [`Profile`] (channel, client, payment method, network). The model is
//! written so that it can both be *sampled* (the generator) and *enumerated*
//! (the ground truth in [`super::truth`] sums over every profile and retry
//! path with its probability), from the same tables and the same
//! [`Model::hazards`] function: the expected rates in the truth file are
//! computed from the model, not guessed.

use model::vocab::{Channel, FailureCause as Cause, PaymentMethod as Method};
use rand::Rng;

use super::catalog::{
    ANDROID_VERSIONS, APP_VERSIONS, ClientSpec, IOS_VERSIONS, MOBILE_WEB_CLIENTS, NETWORKS,
    WEB_CLIENTS,
};
use super::scenario::Magnitude;

/// Number of failure causes ([`Cause::ALL`]).
pub(crate) const CAUSES: usize = 12;
/// Per-cause failure probability of one attempt, indexed by [`Cause::index`].
pub(crate) type Hazards = [f64; CAUSES];
/// The most attempts one order makes.
pub(crate) const MAX_ATTEMPTS: u8 = 3;

/// Channel mix, in [`Channel::ALL`] order: web, mobile_web, ios_app,
/// android_app, wechat_mini_program.
const CHANNEL_MIX: [f64; 5] = [0.12, 0.13, 0.20, 0.27, 0.28];

/// Payment-method mix per channel, in [`Method::ALL`] order: credit_card,
/// debit_card, alipay, wechat_pay, union_pay, apple_pay, bank_transfer,
/// balance. Apple Pay is further limited to iOS and Safari clients.
const METHOD_MIX: [[f64; 8]; 5] = [
    [0.16, 0.10, 0.36, 0.14, 0.10, 0.04, 0.04, 0.06],
    [0.08, 0.07, 0.45, 0.18, 0.07, 0.07, 0.01, 0.07],
    [0.06, 0.05, 0.36, 0.28, 0.05, 0.12, 0.00, 0.08],
    [0.06, 0.05, 0.42, 0.32, 0.07, 0.00, 0.00, 0.08],
    [0.00, 0.00, 0.015, 0.88, 0.015, 0.00, 0.00, 0.09],
];

/// Network mix per channel, in [`NETWORKS`] order: wifi, ethernet, 4g, 5g,
/// public_wifi.
const NETWORK_MIX: [[f64; 5]; 5] = [
    [0.72, 0.20, 0.03, 0.00, 0.05],
    [0.48, 0.00, 0.24, 0.20, 0.08],
    [0.50, 0.00, 0.20, 0.22, 0.08],
    [0.46, 0.00, 0.24, 0.22, 0.08],
    [0.48, 0.00, 0.23, 0.21, 0.08],
];

/// `network_error` hazard per channel on wifi (scaled by the network).
const NETWORK_ERROR: [f64; 5] = [0.0015, 0.005, 0.003, 0.004, 0.004];
/// `account_info_invalid` hazard per channel (typed addresses on the web,
/// autofill in the mini program).
const ACCOUNT_INFO: [f64; 5] = [0.004, 0.0045, 0.0025, 0.0025, 0.0015];
/// `payment_declined` hazard per method: cards are declined most.
const DECLINED: [f64; 8] = [0.028, 0.018, 0.004, 0.004, 0.012, 0.006, 0.010, 0.0008];
/// `insufficient_funds` hazard per method: debit cards and stored balance.
const FUNDS: [f64; 8] = [0.008, 0.020, 0.003, 0.004, 0.010, 0.003, 0.006, 0.012];

/// Share of mini-program traffic on iOS (the rest is Android).
const MINI_PROGRAM_IOS: f64 = 0.45;

/// A client as the model uses it: [`ClientSpec`] plus the app version.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client {
    pub(crate) os: &'static str,
    pub(crate) browser: Option<&'static str>,
    /// Index into [`APP_VERSIONS`]; apps only.
    pub(crate) app_version: Option<u8>,
    pub(crate) apple_pay: bool,
    pub(crate) outdated: f64,
    pub(crate) settings: f64,
}

/// Everything about one attempt that moves its failure probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Profile {
    pub(crate) channel: Channel,
    /// Index into the channel's clients.
    pub(crate) client: u16,
    pub(crate) method: Method,
    /// Index into [`NETWORKS`].
    pub(crate) network: u8,
}

/// How the previous attempt of the same order failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Prev {
    pub(crate) cause: Cause,
    /// The shopper switched payment method for this retry.
    pub(crate) switched: bool,
}

/// Which attempts an incident touches (empty = all of them).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct SliceFilter {
    pub(crate) channel: Option<Channel>,
    pub(crate) method: Option<Method>,
    /// Index into [`APP_VERSIONS`].
    pub(crate) app_version: Option<u8>,
}

impl SliceFilter {
    pub(crate) fn is_empty(&self) -> bool {
        *self == SliceFilter::default()
    }

    pub(crate) fn matches(&self, model: &Model, p: &Profile) -> bool {
        self.channel.is_none_or(|c| c == p.channel)
            && self.method.is_none_or(|m| m == p.method)
            && self
                .app_version
                .is_none_or(|v| model.client(p).app_version == Some(v))
    }
}

/// An incident's effect on one cause's hazard within a slice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CauseEffect {
    pub(crate) filter: SliceFilter,
    pub(crate) cause: Cause,
    pub(crate) magnitude: Magnitude,
}

/// The tables, expanded once per simulator.
#[derive(Debug)]
pub(crate) struct Model {
    clients: [Vec<Client>; 5],
    client_weights: [Vec<f64>; 5],
    /// Normalised method weights per channel and client.
    method_weights: [Vec<[f64; 8]>; 5],
    network_weights: [[f64; 5]; 5],
    channel_weights: [f64; 5],
}

impl Model {
    pub(crate) fn new() -> Self {
        let clients: [Vec<(Client, f64)>; 5] = [
            browser_clients(WEB_CLIENTS),
            browser_clients(MOBILE_WEB_CLIENTS),
            app_clients(IOS_VERSIONS, true),
            app_clients(ANDROID_VERSIONS, false),
            mini_program_clients(),
        ];
        let method_weights = std::array::from_fn(|ch| {
            clients[ch]
                .iter()
                .map(|(c, _)| {
                    let mut w = METHOD_MIX[ch];
                    if !c.apple_pay {
                        w[Method::ApplePay.index()] = 0.0;
                    }
                    normalised(w)
                })
                .collect()
        });
        Model {
            client_weights: std::array::from_fn(|ch| {
                let total: f64 = clients[ch].iter().map(|(_, w)| w).sum();
                clients[ch].iter().map(|(_, w)| w / total).collect()
            }),
            clients: clients.map(|cs| cs.into_iter().map(|(c, _)| c).collect()),
            method_weights,
            network_weights: NETWORK_MIX.map(normalised),
            channel_weights: normalised(CHANNEL_MIX),
        }
    }

    pub(crate) fn client(&self, p: &Profile) -> &Client {
        &self.clients[p.channel.index()][usize::from(p.client)]
    }

    /// Draws the profile of a new order.
    pub(crate) fn sample_profile(&self, rng: &mut impl Rng) -> Profile {
        let ch = pick(&self.channel_weights, rng);
        let client = pick(&self.client_weights[ch], rng);
        let method = pick(&self.method_weights[ch][client], rng);
        let network = pick(&self.network_weights[ch], rng);
        Profile {
            channel: Channel::ALL[ch],
            client: client as u16,
            method: Method::ALL[method],
            network: network as u8,
        }
    }

    /// Every profile with its probability (they sum to 1).
    pub(crate) fn profiles(&self) -> impl Iterator<Item = (Profile, f64)> + '_ {
        (0..5).flat_map(move |ch| {
            let wc = self.channel_weights[ch];
            self.client_weights[ch]
                .iter()
                .enumerate()
                .flat_map(move |(client, &wk)| {
                    let methods = &self.method_weights[ch][client];
                    (0..8).flat_map(move |m| {
                        (0..5).filter_map(move |n| {
                            let w = wc * wk * methods[m] * self.network_weights[ch][n];
                            (w > 0.0).then(|| {
                                let p = Profile {
                                    channel: Channel::ALL[ch],
                                    client: client as u16,
                                    method: Method::ALL[m],
                                    network: n as u8,
                                };
                                (p, w)
                            })
                        })
                    })
                })
        })
    }

    /// The methods a shopper may switch to from `p.method`, with their
    /// probabilities (summing to 1); empty when there is none.
    pub(crate) fn alternatives(&self, p: &Profile) -> [f64; 8] {
        let mut w = self.method_weights[p.channel.index()][usize::from(p.client)];
        w[p.method.index()] = 0.0;
        let total: f64 = w.iter().sum();
        if total > 0.0 {
            w.iter_mut().for_each(|x| *x /= total);
        }
        w
    }

    /// Draws a method to switch to; `None` when there is no alternative.
    pub(crate) fn sample_alternative(&self, p: &Profile, rng: &mut impl Rng) -> Option<Method> {
        let w = self.alternatives(p);
        (w.iter().sum::<f64>() > 0.0).then(|| Method::ALL[pick(&w, rng)])
    }

    /// The failure hazards of one attempt with no incident and no history.
    fn base_hazards(&self, p: &Profile) -> Hazards {
        let ch = p.channel.index();
        let m = p.method.index();
        let client = self.client(p);
        let (_, net_err, _) = NETWORKS[usize::from(p.network)];
        let card = matches!(p.method, Method::CreditCard | Method::DebitCard);
        let mut h = [0.0; CAUSES];
        h[Cause::NetworkError.index()] = NETWORK_ERROR[ch] * net_err;
        h[Cause::PaymentMethodUnsupported.index()] = unsupported(p.channel, p.method);
        h[Cause::PaymentDeclined.index()] =
            DECLINED[m] * if p.channel == Channel::Web { 1.1 } else { 1.0 };
        h[Cause::InsufficientFunds.index()] = FUNDS[m];
        h[Cause::SystemMaintenance.index()] = 0.0002;
        h[Cause::AccountInfoInvalid.index()] = ACCOUNT_INFO[ch];
        h[Cause::BrowserSettings.index()] = client.settings;
        h[Cause::ClientOutdated.index()] = client.outdated;
        h[Cause::RiskRejected.index()] = 0.0015
            * if card { 2.0 } else { 1.0 }
            * if p.channel == Channel::Web { 1.4 } else { 1.0 };
        h[Cause::InventoryUnavailable.index()] = 0.002;
        h[Cause::ServiceError.index()] = 0.0015;
        h[Cause::Unknown.index()] = 0.0004;
        h
    }

    /// The failure hazards of one attempt: the base, what the previous
    /// failure of the same order leaves behind, and the active incidents.
    /// They sum to at most 1; the rest is the success probability.
    pub(crate) fn hazards(
        &self,
        p: &Profile,
        prev: Option<Prev>,
        effects: &[CauseEffect],
    ) -> Hazards {
        let mut h = self.base_hazards(p);
        if let Some(prev) = prev
            && !(prev.switched && method_bound(prev.cause))
        {
            h[prev.cause.index()] *= persistence(prev.cause);
        }
        for e in effects {
            if e.filter.matches(self, p) {
                let x = &mut h[e.cause.index()];
                *x = match e.magnitude {
                    Magnitude::Factor(f) => *x * f,
                    Magnitude::Rate(r) => x.max(r),
                };
            }
        }
        h.iter_mut().for_each(|x| *x = x.clamp(0.0, 1.0));
        let total: f64 = h.iter().sum();
        if total > 1.0 {
            h.iter_mut().for_each(|x| *x /= total);
        }
        h
    }
}

/// `payment_method_unsupported` hazard of a method on a channel: Alipay
/// and UnionPay can hardly be used inside WeChat, bank transfer barely
/// works on phone browsers, Apple Pay on a Mac without Touch ID...
fn unsupported(channel: Channel, method: Method) -> f64 {
    match (channel, method) {
        (Channel::WechatMiniProgram, Method::Alipay) => 0.55,
        (Channel::WechatMiniProgram, Method::UnionPay) => 0.30,
        (Channel::MobileWeb, Method::BankTransfer) => 0.08,
        (Channel::Web, Method::ApplePay) => 0.04,
        (Channel::MobileWeb, Method::CreditCard | Method::DebitCard) => 0.01,
        (Channel::IosApp, Method::UnionPay) => 0.02,
        _ => 0.0003,
    }
}

/// Causes tied to the payment method: switching method escapes them.
fn method_bound(cause: Cause) -> bool {
    matches!(
        cause,
        Cause::PaymentMethodUnsupported | Cause::PaymentDeclined | Cause::InsufficientFunds
    )
}

/// How much likelier the same cause is on the retry: a declined card is
/// declined again, a fixed address is fixed.
fn persistence(cause: Cause) -> f64 {
    match cause {
        Cause::NetworkError => 2.0,
        Cause::PaymentMethodUnsupported => 50.0,
        Cause::PaymentDeclined => 3.0,
        Cause::InsufficientFunds => 4.0,
        Cause::SystemMaintenance => 1.0,
        Cause::AccountInfoInvalid => 0.25,
        Cause::BrowserSettings => 0.3,
        Cause::ClientOutdated => 2.5,
        Cause::RiskRejected => 4.0,
        Cause::InventoryUnavailable => 1.0,
        Cause::ServiceError => 1.5,
        Cause::Unknown => 1.0,
    }
}

/// Probability that a shopper retries after attempt `failed` failed with
/// `cause`. Nobody retries an item that is out of stock.
pub(crate) fn retry_probability(cause: Cause, failed: u8) -> f64 {
    if failed >= MAX_ATTEMPTS {
        return 0.0;
    }
    let p = match cause {
        Cause::NetworkError => 0.7,
        Cause::PaymentMethodUnsupported => 0.65,
        Cause::PaymentDeclined => 0.45,
        Cause::InsufficientFunds => 0.5,
        Cause::SystemMaintenance => 0.35,
        Cause::AccountInfoInvalid => 0.55,
        Cause::BrowserSettings => 0.35,
        Cause::ClientOutdated => 0.15,
        Cause::RiskRejected => 0.05,
        Cause::InventoryUnavailable => 0.0,
        Cause::ServiceError => 0.6,
        Cause::Unknown => 0.4,
    };
    if failed >= 2 { p * 0.6 } else { p }
}

/// Probability that the retry uses another payment method.
pub(crate) fn switch_probability(cause: Cause) -> f64 {
    match cause {
        Cause::PaymentMethodUnsupported => 1.0,
        Cause::PaymentDeclined => 0.5,
        Cause::InsufficientFunds => 0.6,
        _ => 0.0,
    }
}

/// Median delay in ms between a failure of `cause` and the retry.
pub(crate) fn retry_delay_median_ms(cause: Cause) -> f64 {
    match cause {
        Cause::NetworkError => 4_000.0,
        Cause::ServiceError => 6_000.0,
        Cause::Unknown => 10_000.0,
        Cause::PaymentMethodUnsupported => 15_000.0,
        Cause::RiskRejected => 20_000.0,
        Cause::PaymentDeclined => 25_000.0,
        Cause::BrowserSettings => 30_000.0,
        Cause::InsufficientFunds => 40_000.0,
        Cause::AccountInfoInvalid => 45_000.0,
        Cause::ClientOutdated => 60_000.0,
        Cause::SystemMaintenance => 90_000.0,
        Cause::InventoryUnavailable => 60_000.0,
    }
}

/// Draws the failure cause of an attempt (`None`: success).
pub(crate) fn sample_cause(h: &Hazards, rng: &mut impl Rng) -> Option<Cause> {
    let mut u: f64 = rng.random();
    for (i, &x) in h.iter().enumerate() {
        if u < x {
            return Some(Cause::ALL[i]);
        }
        u -= x;
    }
    None
}

/// Index drawn with probability proportional to `weights` (which sum to ~1).
pub(crate) fn pick(weights: &[f64], rng: &mut impl Rng) -> usize {
    let mut u: f64 = rng.random();
    let mut last = 0;
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            if u < w {
                return i;
            }
            u -= w;
            last = i;
        }
    }
    last
}

fn normalised<const N: usize>(mut w: [f64; N]) -> [f64; N] {
    let total: f64 = w.iter().sum();
    w.iter_mut().for_each(|x| *x /= total);
    w
}

fn browser_clients(specs: &[ClientSpec]) -> Vec<(Client, f64)> {
    specs
        .iter()
        .map(|s| {
            let c = Client {
                os: s.os,
                browser: s.browser,
                app_version: None,
                apple_pay: s.apple_pay,
                outdated: s.outdated,
                settings: s.settings,
            };
            (c, s.weight)
        })
        .collect()
}

fn app_clients(os_versions: &[(&'static str, f64, f64)], ios: bool) -> Vec<(Client, f64)> {
    let mut out = Vec::new();
    for &(os, os_share, os_outdated) in os_versions {
        for (v, &(_, adoption, outdated)) in APP_VERSIONS.iter().enumerate() {
            let c = Client {
                os,
                browser: None,
                app_version: Some(v as u8),
                apple_pay: ios,
                outdated: outdated + os_outdated,
                settings: 0.0,
            };
            out.push((c, os_share * adoption));
        }
    }
    out
}

fn mini_program_clients() -> Vec<(Client, f64)> {
    let ios = IOS_VERSIONS.iter().map(|v| (v, MINI_PROGRAM_IOS));
    let android = ANDROID_VERSIONS.iter().map(|v| (v, 1.0 - MINI_PROGRAM_IOS));
    ios.chain(android)
        .map(|(&(os, share, os_outdated), platform)| {
            let c = Client {
                os,
                browser: None,
                app_version: None,
                apple_pay: false,
                outdated: 0.0004 + os_outdated,
                settings: 0.0,
            };
            (c, share * platform)
        })
        .collect()
}

/// Traffic over the day: hourly weights in the shoppers' local time, quiet
/// at night, a late-morning peak and a bigger evening peak (e-commerce in
/// China peaks around 20:00–22:00).
const HOURLY: [f64; 24] = [
    0.55, 0.35, 0.22, 0.15, 0.12, 0.14, 0.25, 0.45, 0.70, 0.95, 1.15, 1.20, //
    1.05, 1.00, 1.05, 1.05, 1.00, 0.95, 1.00, 1.20, 1.45, 1.50, 1.25, 0.85,
];

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The diurnal curve, normalised to a mean of 1 over a day.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Diurnal {
    offset_ms: i64,
    enabled: bool,
    mean: f64,
}

impl Diurnal {
    pub(crate) fn new(tz_offset_minutes: i32, enabled: bool) -> Self {
        Diurnal {
            offset_ms: i64::from(tz_offset_minutes) * 60_000,
            enabled,
            mean: HOURLY.iter().sum::<f64>() / 24.0,
        }
    }

    /// Traffic multiplier at `t_ms` (UTC epoch ms).
    pub(crate) fn factor(&self, t_ms: i64) -> f64 {
        if !self.enabled {
            return 1.0;
        }
        let local = (t_ms + self.offset_ms).rem_euclid(DAY_MS);
        let hour = (local / HOUR_MS) as usize;
        let frac = (local % HOUR_MS) as f64 / HOUR_MS as f64;
        let a = HOURLY[hour];
        let b = HOURLY[(hour + 1) % 24];
        (a + (b - a) * frac) / self.mean
    }
}

/// Slow multiplicative noise on the traffic rate (±8 %, new value every
/// 5 minutes, linearly interpolated), a pure function of the seed and time.
#[derive(Debug, Clone)]
pub(crate) struct RateNoise {
    key: u64,
    node: i64,
    at_node: f64,
    at_next: f64,
}

const NOISE_NODE_MS: i64 = 300_000;
const NOISE_SIGMA: f64 = 0.08;

impl RateNoise {
    pub(crate) fn new(seed: u64) -> Self {
        RateNoise {
            key: mix64(seed ^ 0x6e6f_6973_6521),
            node: i64::MIN,
            at_node: 1.0,
            at_next: 1.0,
        }
    }

    pub(crate) fn factor(&mut self, t_ms: i64) -> f64 {
        let node = t_ms.div_euclid(NOISE_NODE_MS);
        if node != self.node {
            self.node = node;
            self.at_node = self.value(node);
            self.at_next = self.value(node + 1);
        }
        let frac = t_ms.rem_euclid(NOISE_NODE_MS) as f64 / NOISE_NODE_MS as f64;
        self.at_node + (self.at_next - self.at_node) * frac
    }

    fn value(&self, node: i64) -> f64 {
        let a = mix64(self.key ^ node as u64);
        let b = mix64(a);
        let u1 = ((a >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let u2 = (b >> 11) as f64 / (1u64 << 53) as f64;
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (NOISE_SIGMA * z - NOISE_SIGMA * NOISE_SIGMA / 2.0).exp()
    }
}

/// SplitMix64's finaliser: a bijection on u64 that scrambles bits well.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_sum_to_one_and_respect_constraints() {
        let m = Model::new();
        let mut total = 0.0;
        for (p, w) in m.profiles() {
            total += w;
            let c = m.client(&p);
            if p.method == Method::ApplePay {
                assert!(
                    c.apple_pay
                        && matches!(
                            p.channel,
                            Channel::IosApp | Channel::Web | Channel::MobileWeb
                        ),
                    "{p:?}"
                );
            }
            let h = m.hazards(&p, None, &[]);
            if !matches!(p.channel, Channel::Web | Channel::MobileWeb) {
                assert_eq!(h[Cause::BrowserSettings.index()], 0.0, "{p:?}");
            }
            assert!(h.iter().sum::<f64>() < 0.7, "{p:?}: {h:?}");
        }
        assert!((total - 1.0).abs() < 1e-9, "{total}");
    }

    #[test]
    fn overall_failure_rate_is_a_few_percent() {
        let m = Model::new();
        let rate: f64 = m
            .profiles()
            .map(|(p, w)| w * m.hazards(&p, None, &[]).iter().sum::<f64>())
            .sum();
        assert!((0.02..0.07).contains(&rate), "{rate}");
    }

    #[test]
    fn hazards_apply_effects_only_inside_their_slice() {
        let m = Model::new();
        let effect = CauseEffect {
            filter: SliceFilter {
                method: Some(Method::Alipay),
                ..SliceFilter::default()
            },
            cause: Cause::PaymentDeclined,
            magnitude: Magnitude::Factor(10.0),
        };
        let i = Cause::PaymentDeclined.index();
        for (p, _) in m.profiles().take(2000) {
            let base = m.hazards(&p, None, &[])[i];
            let hit = m.hazards(&p, None, &[effect])[i];
            if p.method == Method::Alipay {
                assert!((hit - base * 10.0).abs() < 1e-12);
            } else {
                assert_eq!(hit, base);
            }
        }
    }

    #[test]
    fn diurnal_curve_has_mean_one_and_a_quiet_night() {
        let d = Diurnal::new(480, true);
        let mean: f64 = (0..1440).map(|m| d.factor(m * 60_000)).sum::<f64>() / 1440.0;
        assert!((mean - 1.0).abs() < 0.01, "{mean}");
        // 04:00 and 21:00 in UTC+8.
        let night = d.factor(-4 * HOUR_MS);
        let evening = d.factor(13 * HOUR_MS);
        assert!(night * 5.0 < evening, "{night} {evening}");
        assert_eq!(Diurnal::new(480, false).factor(123), 1.0);
    }

    #[test]
    fn rate_noise_is_small_and_deterministic() {
        let mut a = RateNoise::new(7);
        let mut b = RateNoise::new(7);
        for t in (0..86_400_000).step_by(61_000) {
            let x = a.factor(t);
            assert_eq!(x, b.factor(t));
            assert!((0.6..1.5).contains(&x), "{x}");
        }
    }
}
