//! Enumerations of `ClientPayload` (`protocol/session.md` §1.3; whatsmeow
//! `proto/waWa6/WAWebProtobufsWa6.proto`). Values are wire facts; do not renumber.

/// `ClientPayload.UserAgent.Platform`: the kind of client. Companions built on the web client
/// send [`Platform::Web`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Platform {
    /// `ANDROID`
    Android = 0,
    /// `IOS`
    Ios = 1,
    /// `WINDOWS_PHONE`
    WindowsPhone = 2,
    /// `BLACKBERRY`
    Blackberry = 3,
    /// `BLACKBERRYX`
    Blackberryx = 4,
    /// `S40`
    S40 = 5,
    /// `S60`
    S60 = 6,
    /// `PYTHON_CLIENT`
    PythonClient = 7,
    /// `TIZEN`
    Tizen = 8,
    /// `ENTERPRISE`
    Enterprise = 9,
    /// `SMB_ANDROID`
    SmbAndroid = 10,
    /// `KAIOS`
    Kaios = 11,
    /// `SMB_IOS`
    SmbIos = 12,
    /// `WINDOWS`
    Windows = 13,
    /// `WEB`: what whatsmeow, Baileys and whatsapp-rust send.
    Web = 14,
    /// `PORTAL`
    Portal = 15,
    /// `GREEN_ANDROID`
    GreenAndroid = 16,
    /// `GREEN_IPHONE`
    GreenIphone = 17,
    /// `BLUE_ANDROID`
    BlueAndroid = 18,
    /// `BLUE_IPHONE`
    BlueIphone = 19,
    /// `FBLITE_ANDROID`
    FbliteAndroid = 20,
    /// `MLITE_ANDROID`
    MliteAndroid = 21,
    /// `IGLITE_ANDROID`
    IgliteAndroid = 22,
    /// `PAGE`
    Page = 23,
    /// `MACOS`
    Macos = 24,
    /// `OCULUS_MSG`
    OculusMsg = 25,
    /// `OCULUS_CALL`
    OculusCall = 26,
    /// `MILAN`
    Milan = 27,
    /// `CAPI`
    Capi = 28,
    /// `WEAROS`
    Wearos = 29,
    /// `ARDEVICE`
    Ardevice = 30,
    /// `VRDEVICE`
    Vrdevice = 31,
    /// `BLUE_WEB`
    BlueWeb = 32,
    /// `IPAD`
    Ipad = 33,
    /// `TEST`
    Test = 34,
    /// `SMART_GLASSES`
    SmartGlasses = 35,
    /// `BLUE_VR`
    BlueVr = 36,
    /// `AR_WRIST`
    ArWrist = 37,
    /// `WAIL` (whatsmeow's schema only)
    Wail = 38,
}

/// `ClientPayload.UserAgent.ReleaseChannel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ReleaseChannel {
    /// `RELEASE`: what all three reference clients send.
    Release = 0,
    /// `BETA`
    Beta = 1,
    /// `ALPHA`
    Alpha = 2,
    /// `DEBUG`
    Debug = 3,
}

/// `ClientPayload.UserAgent.DeviceType` (not sent by the reference clients).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DeviceType {
    /// `PHONE`
    Phone = 0,
    /// `TABLET`
    Tablet = 1,
    /// `DESKTOP`
    Desktop = 2,
    /// `WEARABLE`
    Wearable = 3,
    /// `VR`
    Vr = 4,
}

/// `ClientPayload.UserAgent.DistributionChannel` (whatsmeow's schema only; not sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DistributionChannel {
    /// `APPSTORE`
    Appstore = 0,
    /// `WEBSITE`
    Website = 1,
    /// `TESTFLIGHT`
    Testflight = 2,
    /// `INTERNAL`
    Internal = 3,
}

/// `ClientPayload.WebInfo.WebSubPlatform`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WebSubPlatform {
    /// `WEB_BROWSER`: what whatsmeow and whatsapp-rust send.
    WebBrowser = 0,
    /// `APP_STORE`
    AppStore = 1,
    /// `WIN_STORE`
    WinStore = 2,
    /// `DARWIN`
    Darwin = 3,
    /// `WIN32`
    Win32 = 4,
    /// `WIN_HYBRID`
    WinHybrid = 5,
}

/// `ClientPayload.ConnectType`: the network the client believes it is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ConnectType {
    /// `CELLULAR_UNKNOWN`
    CellularUnknown = 0,
    /// `WIFI_UNKNOWN`: what all three reference clients send.
    WifiUnknown = 1,
    /// `CELLULAR_EDGE`
    CellularEdge = 100,
    /// `CELLULAR_IDEN`
    CellularIden = 101,
    /// `CELLULAR_UMTS`
    CellularUmts = 102,
    /// `CELLULAR_EVDO`
    CellularEvdo = 103,
    /// `CELLULAR_GPRS`
    CellularGprs = 104,
    /// `CELLULAR_HSDPA`
    CellularHsdpa = 105,
    /// `CELLULAR_HSUPA`
    CellularHsupa = 106,
    /// `CELLULAR_HSPA`
    CellularHspa = 107,
    /// `CELLULAR_CDMA`
    CellularCdma = 108,
    /// `CELLULAR_1XRTT`
    Cellular1xrtt = 109,
    /// `CELLULAR_EHRPD`
    CellularEhrpd = 110,
    /// `CELLULAR_LTE`
    CellularLte = 111,
    /// `CELLULAR_HSPAP`
    CellularHspap = 112,
}

/// `ClientPayload.ConnectReason`: why the client connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ConnectReason {
    /// `PUSH`
    Push = 0,
    /// `USER_ACTIVATED`: what all three reference clients send, reconnects included.
    UserActivated = 1,
    /// `SCHEDULED`
    Scheduled = 2,
    /// `ERROR_RECONNECT`
    ErrorReconnect = 3,
    /// `NETWORK_SWITCH`
    NetworkSwitch = 4,
    /// `PING_RECONNECT`
    PingReconnect = 5,
    /// `UNKNOWN`
    Unknown = 6,
}

/// `ClientPayload.Product` (not sent by the reference clients).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Product {
    /// `WHATSAPP`
    Whatsapp = 0,
    /// `MESSENGER`
    Messenger = 1,
    /// `INTEROP`
    Interop = 2,
    /// `INTEROP_MSGR`
    InteropMsgr = 3,
    /// `WHATSAPP_LID`
    WhatsappLid = 4,
}

/// `ClientPayload.IOSAppExtension` (not sent by the reference clients).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum IosAppExtension {
    /// `SHARE_EXTENSION`
    ShareExtension = 0,
    /// `SERVICE_EXTENSION`
    ServiceExtension = 1,
    /// `INTENTS_EXTENSION`
    IntentsExtension = 2,
}

/// `ClientPayload.TrafficAnonymization` (not sent by the reference clients).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum TrafficAnonymization {
    /// `OFF`
    Off = 0,
    /// `STANDARD`
    Standard = 1,
}

/// `ClientPayload.AccountType` (not sent by the reference clients).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AccountType {
    /// `DEFAULT`
    Default = 0,
    /// `GUEST`
    Guest = 1,
}

/// `ClientPayload.DNSSource.DNSResolutionMethod` (not sent by the reference clients).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DnsResolutionMethod {
    /// `SYSTEM`
    System = 0,
    /// `GOOGLE`
    Google = 1,
    /// `HARDCODED`
    Hardcoded = 2,
    /// `OVERRIDE`
    Override = 3,
    /// `FALLBACK`
    Fallback = 4,
    /// `MNS`
    Mns = 5,
    /// `MNS_SECONDARY`
    MnsSecondary = 6,
    /// `SOCKS_PROXY`
    SocksProxy = 7,
}
