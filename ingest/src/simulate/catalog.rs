//! The words of the simulated shop: clients, regions, locales, currencies,
//! and the error codes and messages each failure cause comes with.
//!
//! Pure data. The probabilities that pick among these live in
//! [`super::model`].

use model::vocab::{Channel, FailureCause as Cause, PaymentMethod as Method, Stage};

/// One kind of device and software a shopper checks out with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientSpec {
    pub(crate) os: &'static str,
    pub(crate) browser: Option<&'static str>,
    /// Share of its channel's traffic.
    pub(crate) weight: f64,
    /// Apple Pay can be offered (iOS, or Safari).
    pub(crate) apple_pay: bool,
    /// `client_outdated` hazard of this client (old browser or OS).
    pub(crate) outdated: f64,
    /// `browser_settings` hazard (JavaScript or cookies off, plug-ins).
    pub(crate) settings: f64,
}

const fn client(
    os: &'static str,
    browser: &'static str,
    weight: f64,
    apple_pay: bool,
    outdated: f64,
    settings: f64,
) -> ClientSpec {
    ClientSpec {
        os,
        browser: Some(browser),
        weight,
        apple_pay,
        outdated,
        settings,
    }
}

/// Desktop browsers. Old Chrome on Windows 7 and IE 11 are the outdated
/// ones; 360 and QQ browsers and Firefox (strict tracking protection) trip
/// over browser settings more often.
pub(crate) const WEB_CLIENTS: &[ClientSpec] = &[
    client("Windows 11", "Chrome 131", 0.22, false, 0.0005, 0.004),
    client("Windows 10", "Chrome 131", 0.18, false, 0.0005, 0.004),
    client("Windows 10", "Edge 131", 0.10, false, 0.0005, 0.004),
    client("Windows 10", "360SE 14", 0.10, false, 0.002, 0.012),
    client("Windows 10", "QQBrowser 12", 0.06, false, 0.001, 0.010),
    client("macOS 15", "Safari 18.1", 0.12, true, 0.0005, 0.006),
    client("macOS 14", "Chrome 131", 0.08, false, 0.0005, 0.004),
    client("Windows 11", "Firefox 133", 0.05, false, 0.0005, 0.014),
    client("Windows 7", "Chrome 109", 0.06, false, 0.06, 0.005),
    client("Windows 7", "IE 11", 0.01, false, 0.45, 0.03),
    client("Ubuntu 24.04", "Firefox 133", 0.02, false, 0.0005, 0.012),
];

/// Phone browsers, including WeChat's in-app browser.
pub(crate) const MOBILE_WEB_CLIENTS: &[ClientSpec] = &[
    client("iOS 18.1", "Safari 18.1", 0.30, true, 0.0005, 0.004),
    client("iOS 17.6", "Safari 17.6", 0.12, true, 0.001, 0.004),
    client("iOS 18.1", "WeChat 8.0.53", 0.10, false, 0.001, 0.003),
    client("Android 14", "Chrome 131", 0.14, false, 0.0005, 0.003),
    client("Android 13", "UC Browser 17", 0.10, false, 0.002, 0.010),
    client(
        "HarmonyOS 4.2",
        "Huawei Browser 15",
        0.10,
        false,
        0.001,
        0.004,
    ),
    client("Android 12", "WeChat 8.0.50", 0.10, false, 0.002, 0.003),
    client("Android 9", "Chrome 92", 0.04, false, 0.05, 0.004),
];

/// iOS versions of app users: (os, share, extra `client_outdated` hazard).
pub(crate) const IOS_VERSIONS: &[(&str, f64, f64)] = &[
    ("iOS 18.1", 0.62, 0.0),
    ("iOS 17.6", 0.28, 0.0),
    ("iOS 16.7", 0.08, 0.001),
    ("iOS 15.8", 0.02, 0.02),
];

/// Android versions of app and mini-program users.
pub(crate) const ANDROID_VERSIONS: &[(&str, f64, f64)] = &[
    ("Android 14", 0.32, 0.0),
    ("Android 13", 0.26, 0.0),
    ("HarmonyOS 4.2", 0.16, 0.0),
    ("Android 12", 0.14, 0.0),
    ("Android 11", 0.08, 0.002),
    ("Android 9", 0.04, 0.03),
];

/// The shop's app releases, newest first: (version, adoption,
/// `client_outdated` hazard). 5.8.3 is below the supported minimum.
pub(crate) const APP_VERSIONS: &[(&str, f64, f64)] = &[
    ("6.4.0", 0.40, 0.0003),
    ("6.3.2", 0.31, 0.0005),
    ("6.2.1", 0.15, 0.002),
    ("6.0.5", 0.11, 0.015),
    ("5.8.3", 0.03, 0.30),
];

/// Network kinds: (name, error multiplier, latency multiplier).
pub(crate) const NETWORKS: &[(&str, f64, f64)] = &[
    ("wifi", 1.0, 1.0),
    ("ethernet", 0.5, 0.85),
    ("4g", 1.8, 1.35),
    ("5g", 1.1, 0.9),
    ("public_wifi", 4.0, 1.7),
];

/// Regions: (name, share, currency index, locale table index).
pub(crate) const REGIONS: &[(&str, f64, usize, usize)] = &[
    ("cn-east", 0.330, 0, 0),
    ("cn-south", 0.240, 0, 0),
    ("cn-north", 0.190, 0, 0),
    ("cn-southwest", 0.090, 0, 0),
    ("cn-central", 0.080, 0, 0),
    ("cn-northwest", 0.030, 0, 0),
    ("hk", 0.012, 1, 1),
    ("sg", 0.008, 2, 2),
    ("us-west", 0.012, 3, 3),
    ("eu-central", 0.008, 4, 4),
];

/// Currencies: (ISO 4217 code, median order amount in minor units).
pub(crate) const CURRENCIES: &[(&str, f64)] = &[
    ("CNY", 12_900.0),
    ("HKD", 13_900.0),
    ("SGD", 2_400.0),
    ("USD", 1_800.0),
    ("EUR", 1_700.0),
];

/// Locale mixes, one per locale table index of [`REGIONS`].
pub(crate) const LOCALES: &[&[(&str, f64)]] = &[
    &[
        ("zh-CN", 0.93),
        ("en-US", 0.04),
        ("zh-TW", 0.01),
        ("zh-HK", 0.01),
        ("ja-JP", 0.01),
    ],
    &[("zh-HK", 0.6), ("en-HK", 0.3), ("zh-CN", 0.1)],
    &[("en-SG", 0.7), ("zh-SG", 0.3)],
    &[("en-US", 0.85), ("zh-CN", 0.15)],
    &[("de-DE", 0.4), ("en-GB", 0.3), ("fr-FR", 0.3)],
];

/// One error a failed attempt reports: code, Chinese and English message.
pub(crate) type ErrorText = (&'static str, &'static str, &'static str);

const NETWORK: &[ErrorText] = &[
    (
        "NET_TIMEOUT",
        "网络连接超时，请检查网络后重试",
        "The request timed out. Check your connection and try again.",
    ),
    (
        "NET_CONNECTION_RESET",
        "网络连接不稳定，请稍后重试",
        "Network connection is unstable, please try again later.",
    ),
    (
        "NET_DNS_FAILURE",
        "无法连接到服务器",
        "Could not reach the server.",
    ),
    (
        "ERR_INTERNET_DISCONNECTED",
        "网络已断开，请检查网络设置",
        "You appear to be offline.",
    ),
];
const UNSUPPORTED: &[ErrorText] = &[(
    "PAYMENT_METHOD_NOT_SUPPORTED",
    "暂不支持该支付方式",
    "This payment method is not supported here.",
)];
const UNSUPPORTED_MINI: &[ErrorText] = &[(
    "PAY_METHOD_UNAVAILABLE_IN_MINIPROGRAM",
    "小程序内暂不支持该支付方式，请使用微信支付",
    "This payment method is not available in the WeChat mini program.",
)];
const UNSUPPORTED_APPLE: &[ErrorText] = &[(
    "APPLEPAY_NOT_AVAILABLE",
    "当前设备不支持 Apple Pay",
    "Apple Pay is not available on this device.",
)];
const DECLINED_CARD: &[ErrorText] = &[
    (
        "CARD_DECLINED_05",
        "发卡行拒绝交易，请联系发卡行",
        "Your card was declined (issuer response \"05: do not honor\").",
    ),
    (
        "CARD_DECLINED_14",
        "卡号无效，请检查后重试",
        "Invalid card number.",
    ),
    ("CARD_DECLINED_54", "银行卡已过期", "Your card has expired."),
    (
        "CARD_DECLINED_57",
        "该卡不支持此类交易",
        "Transaction not permitted to cardholder.",
    ),
];
const DECLINED_ALIPAY: &[ErrorText] = &[
    (
        "ALIPAY_ACQ.PAYMENT_FAIL",
        "支付宝支付失败，请稍后重试",
        "Alipay payment failed.",
    ),
    (
        "ALIPAY_ACQ.BUYER_ENABLE_STATUS_FORBID",
        "支付宝账户异常，已被限制支付",
        "Your Alipay account is restricted.",
    ),
];
const DECLINED_WECHAT: &[ErrorText] = &[
    (
        "WXPAY_PAYERROR",
        "微信支付失败，账户异常",
        "WeChat Pay failed: account abnormal.",
    ),
    (
        "WXPAY_BANKERROR",
        "银行系统异常",
        "The bank system returned an error.",
    ),
];
const DECLINED_APPLE: &[ErrorText] = &[(
    "APPLEPAY_AUTH_DECLINED",
    "Apple Pay 授权被拒绝",
    "Apple Pay authorization was declined.",
)];
const DECLINED_BANK: &[ErrorText] = &[(
    "BANK_TRANSFER_REJECTED",
    "银行拒绝了本次转账",
    "The bank rejected the transfer.",
)];
const DECLINED_BALANCE: &[ErrorText] = &[(
    "BALANCE_ACCOUNT_FROZEN",
    "余额账户已冻结",
    "Your balance account is frozen.",
)];
const FUNDS_CARD: &[ErrorText] = &[("CARD_DECLINED_51", "余额不足", "Insufficient funds.")];
const FUNDS_ALIPAY: &[ErrorText] = &[(
    "ALIPAY_ACQ.BUYER_BALANCE_NOT_ENOUGH",
    "支付宝余额不足",
    "Insufficient Alipay balance.",
)];
const FUNDS_WECHAT: &[ErrorText] = &[(
    "WXPAY_NOTENOUGH",
    "微信零钱余额不足",
    "Insufficient WeChat Pay balance.",
)];
const FUNDS_BALANCE: &[ErrorText] = &[(
    "BALANCE_NOT_ENOUGH",
    "账户余额不足",
    "Your account balance is too low.",
)];
const MAINTENANCE: &[ErrorText] = &[
    (
        "SYS_MAINTENANCE_503",
        "系统维护中，请稍后再试",
        "We're down for scheduled maintenance. Please try again later.",
    ),
    (
        "PAYMENT_GATEWAY_MAINTENANCE",
        "支付通道维护中",
        "The payment gateway is under maintenance.",
    ),
];
const ACCOUNT: &[ErrorText] = &[
    (
        "ADDR_INVALID",
        "收货地址不完整",
        "The shipping address is incomplete.",
    ),
    (
        "PHONE_INVALID",
        "手机号格式不正确",
        "The phone number is invalid.",
    ),
    (
        "REAL_NAME_MISMATCH",
        "实名信息不一致",
        "Name does not match the ID on file.",
    ),
];
const SETTINGS: &[ErrorText] = &[
    (
        "JS_DISABLED",
        "请启用 JavaScript 后重试",
        "Please enable JavaScript and try again.",
    ),
    (
        "COOKIES_BLOCKED",
        "浏览器禁用了 Cookie",
        "Cookies are blocked in your browser.",
    ),
    (
        "SCRIPT_BLOCKED_BY_EXTENSION",
        "浏览器插件拦截了支付脚本",
        "A browser extension blocked the payment script.",
    ),
];
const OUTDATED_APP: &[ErrorText] = &[(
    "APP_VERSION_UNSUPPORTED",
    "当前版本过低，请升级后重试",
    "This app version is no longer supported. Please update.",
)];
const OUTDATED_BROWSER: &[ErrorText] = &[
    (
        "BROWSER_UNSUPPORTED",
        "您的浏览器版本过低，请升级",
        "Your browser is not supported.",
    ),
    (
        "OS_VERSION_UNSUPPORTED",
        "系统版本过低",
        "Your operating system version is not supported.",
    ),
];
const RISK: &[ErrorText] = &[
    (
        "RISK_REJECTED_HIGH_SCORE",
        "交易存在风险，已被拦截",
        "This transaction was blocked by our security checks.",
    ),
    (
        "RISK_3DS_FAILED",
        "身份验证失败",
        "3-D Secure authentication failed.",
    ),
    (
        "RISK_DEVICE_BLOCKED",
        "设备存在安全风险",
        "This device was flagged by a security check.",
    ),
];
const INVENTORY: &[ErrorText] = &[
    (
        "SKU_OUT_OF_STOCK",
        "商品库存不足",
        "Sorry, this item is out of stock.",
    ),
    (
        "STOCK_RESERVATION_EXPIRED",
        "库存锁定已过期，请重新下单",
        "Your reservation expired. Please place the order again.",
    ),
];
const SERVICE: &[ErrorText] = &[
    (
        "SVC_INTERNAL_500",
        "服务器开小差了，请稍后再试",
        "Something went wrong on our side. Please try again.",
    ),
    (
        "SVC_UPSTREAM_TIMEOUT_504",
        "服务响应超时",
        "The service timed out.",
    ),
    (
        "SVC_ORDER_DB_UNAVAILABLE",
        "订单服务暂时不可用",
        "The order service is temporarily unavailable.",
    ),
];
const UNKNOWN: &[ErrorText] = &[("E_UNKNOWN", "未知错误", "Unknown error")];

/// The errors a failure of `cause` can report, given how the shopper paid
/// and where.
pub(crate) fn errors(cause: Cause, method: Method, channel: Channel) -> &'static [ErrorText] {
    match cause {
        Cause::NetworkError => NETWORK,
        Cause::PaymentMethodUnsupported => match (method, channel) {
            (_, Channel::WechatMiniProgram) => UNSUPPORTED_MINI,
            (Method::ApplePay, _) => UNSUPPORTED_APPLE,
            _ => UNSUPPORTED,
        },
        Cause::PaymentDeclined => match method {
            Method::Alipay => DECLINED_ALIPAY,
            Method::WechatPay => DECLINED_WECHAT,
            Method::ApplePay => DECLINED_APPLE,
            Method::BankTransfer => DECLINED_BANK,
            Method::Balance => DECLINED_BALANCE,
            _ => DECLINED_CARD,
        },
        Cause::InsufficientFunds => match method {
            Method::Alipay => FUNDS_ALIPAY,
            Method::WechatPay => FUNDS_WECHAT,
            Method::Balance => FUNDS_BALANCE,
            _ => FUNDS_CARD,
        },
        Cause::SystemMaintenance => MAINTENANCE,
        Cause::AccountInfoInvalid => ACCOUNT,
        Cause::BrowserSettings => SETTINGS,
        Cause::ClientOutdated => match channel {
            Channel::IosApp | Channel::AndroidApp => OUTDATED_APP,
            _ => OUTDATED_BROWSER,
        },
        Cause::RiskRejected => RISK,
        Cause::InventoryUnavailable => INVENTORY,
        Cause::ServiceError => SERVICE,
        Cause::Unknown => UNKNOWN,
    }
}

/// The checkout steps where a failure of `cause` happens, with weights.
pub(crate) fn stages(cause: Cause) -> &'static [(Stage, f64)] {
    match cause {
        Cause::NetworkError => &[
            (Stage::Cart, 0.1),
            (Stage::Checkout, 0.3),
            (Stage::Payment, 0.6),
        ],
        Cause::PaymentMethodUnsupported
        | Cause::PaymentDeclined
        | Cause::InsufficientFunds
        | Cause::RiskRejected => &[(Stage::Payment, 1.0)],
        Cause::SystemMaintenance => &[
            (Stage::Cart, 0.3),
            (Stage::Checkout, 0.4),
            (Stage::Payment, 0.3),
        ],
        Cause::AccountInfoInvalid => &[(Stage::Checkout, 1.0)],
        Cause::BrowserSettings => &[(Stage::Checkout, 0.5), (Stage::Payment, 0.5)],
        Cause::ClientOutdated => &[(Stage::Cart, 0.4), (Stage::Checkout, 0.6)],
        Cause::InventoryUnavailable => &[(Stage::Cart, 0.6), (Stage::Checkout, 0.4)],
        Cause::ServiceError => &[
            (Stage::Checkout, 0.4),
            (Stage::Payment, 0.4),
            (Stage::Confirmation, 0.2),
        ],
        Cause::Unknown => &[(Stage::Payment, 0.7), (Stage::Confirmation, 0.3)],
    }
}

/// Median latency in ms of an attempt that ended with `cause` (or success).
pub(crate) fn median_latency_ms(cause: Option<Cause>) -> f64 {
    match cause {
        None => 700.0,
        Some(Cause::NetworkError) => 9_000.0,
        Some(Cause::ServiceError) => 4_500.0,
        Some(Cause::PaymentDeclined) => 1_300.0,
        Some(Cause::InsufficientFunds) => 1_100.0,
        Some(Cause::RiskRejected) => 1_600.0,
        Some(Cause::Unknown) => 2_000.0,
        Some(Cause::InventoryUnavailable) => 300.0,
        Some(Cause::SystemMaintenance) => 80.0,
        Some(
            Cause::PaymentMethodUnsupported
            | Cause::AccountInfoInvalid
            | Cause::BrowserSettings
            | Cause::ClientOutdated,
        ) => 160.0,
    }
}
