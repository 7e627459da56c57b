//! Noise XX transcript vectors, copied from `protocol/test-vectors.md` §2.1 and §3
//! (facts: keys, wire bytes, intermediate state). Shared by unit and integration tests.

/// `client_ephemeral_priv` (hex).
pub(crate) const CLIENT_EPHEMERAL_PRIV: &str =
    "31939c5adddec942290b637530898a70f2d32453e5241f30a0550780e7586b07";
/// `client_ephemeral_pub` (hex).
pub(crate) const CLIENT_EPHEMERAL_PUB: &str =
    "f01e3feed2953d4221feddad1b6baa06ee321666eb0e170d33428905b0057d4e";
/// `client_static_priv` (hex).
pub(crate) const CLIENT_STATIC_PRIV: &str =
    "c65e2497968229ea49cb49370248313afa46a03b26f49ae7288831f39e53a0e9";
/// `client_static_pub` (hex).
pub(crate) const CLIENT_STATIC_PUB: &str =
    "71a2969a5bb2ed262864d34135bd450fb621a740f240a980a6f349e4d8c96146";
/// `server_ephemeral_priv` (hex).
pub(crate) const SERVER_EPHEMERAL_PRIV: &str =
    "5be551a192e32372d3dfca3025e3a6129aa00350e5ffceeb0184f61b25e23481";
/// `server_ephemeral_pub` (hex).
pub(crate) const SERVER_EPHEMERAL_PUB: &str =
    "98ce40bd9d69d7950579450cfcb9844f328d214b045f825a96bf70f9ae37b37d";
/// `server_static_priv` (hex).
pub(crate) const SERVER_STATIC_PRIV: &str =
    "42b0f52facd91e6603b9a1c026de0eb46ebcfc33fcf136a5a1c9b4980f664fb3";
/// `server_static_pub` (hex).
pub(crate) const SERVER_STATIC_PUB: &str =
    "427265d836c915925b7db24ebb0e6be96b23a96d50dcfd9f9866aba150a5a50c";
/// `prologue` (hex).
pub(crate) const PROLOGUE: &str = "57410603";
/// `client_payload` (hex).
pub(crate) const CLIENT_PAYLOAD: &str =
    "6f706171756520436c69656e745061796c6f61642070726f746f62756620627974657320676f2068657265";
/// `cert_chain` (hex).
pub(crate) const CERT_CHAIN: &str = "0a760a32082a10071a20427265d836c915925b7db24ebb0e6be96b23a96d50dcfd9f9866aba150a5a50c2080e2cfaa062880e6fe8907124090d8d9bfb1daf5ab7e0d223d5263200ebe73409c8ba4d25a8e4927edd3e19aa19cb63b01bdcb6f2f9e503e05fdefd1648484a5a23e53498aa74c7798ece7940312760a32080710001a2092044e96eb6ecffa1fe2662e5506ed743a833d86ff79d7b07265d2567543e9732080e2cfaa062880a8d6b9071240e5955df63647de53eb96aca17ef1aa888bfdfb8f900f34f463918cf14ae16739fbb66c909de1173163e7baa2434c2ccd0ae976777dafbac818ca80b7d6ca2780";
/// `client_hello` (hex).
pub(crate) const CLIENT_HELLO: &str =
    "12220a20f01e3feed2953d4221feddad1b6baa06ee321666eb0e170d33428905b0057d4e";
/// `server_hello` (hex).
pub(crate) const SERVER_HELLO: &str = "1ad7020a2098ce40bd9d69d7950579450cfcb9844f328d214b045f825a96bf70f9ae37b37d12305e732b12cfa24b58553edc8e95dee2e4ddbf2e27b496ab303a2917aedb73627c14eb832ab12a6373a338eb0323095b4c1a8002e665cacd8526c032a704969e2335528e29210dc7c2ea0a028c3c44c3556be49cb1319e3ea0e83b3e6255304ddd0ee48d5da8931d62d213cd4be21c5d0f6134da03830f76970b33bfdc95da77256faff5cae2d5a217a7b560687c3145fc54d5cec927b982aac796de51184b3172338ffe27147f6b55f3f87361846b2234bbad56dd290f0dd3f85dde9c988561bfbce89ee0c54b55c31aafe1ced1bb243de5babceafbfe634042245d1d2e2e327ad7817588b5853a01393a5b77a22aabc618e2b293a18f637edab49672c6c42ca873959cd81884eeafe91e17b6ba265942c9fcc04968194d912bde5da7b1fdeb6dc1b3a3a61e0d96b9770ba6418daa281680802f";
/// `server_hello_static` (hex).
pub(crate) const SERVER_HELLO_STATIC: &str = "5e732b12cfa24b58553edc8e95dee2e4ddbf2e27b496ab303a2917aedb73627c14eb832ab12a6373a338eb0323095b4c";
/// `server_hello_payload` (hex).
pub(crate) const SERVER_HELLO_PAYLOAD: &str = "e665cacd8526c032a704969e2335528e29210dc7c2ea0a028c3c44c3556be49cb1319e3ea0e83b3e6255304ddd0ee48d5da8931d62d213cd4be21c5d0f6134da03830f76970b33bfdc95da77256faff5cae2d5a217a7b560687c3145fc54d5cec927b982aac796de51184b3172338ffe27147f6b55f3f87361846b2234bbad56dd290f0dd3f85dde9c988561bfbce89ee0c54b55c31aafe1ced1bb243de5babceafbfe634042245d1d2e2e327ad7817588b5853a01393a5b77a22aabc618e2b293a18f637edab49672c6c42ca873959cd81884eeafe91e17b6ba265942c9fcc04968194d912bde5da7b1fdeb6dc1b3a3a61e0d96b9770ba6418daa281680802f";
/// `client_finish_static` (hex).
pub(crate) const CLIENT_FINISH_STATIC: &str = "3c0a5c921e7856dd9332f2789d594ddb5d455dded11f0bac579e416854f06e2f7a7aa92bac25b7a8f6efd261c2b1a62f";
/// `client_finish_payload` (hex).
pub(crate) const CLIENT_FINISH_PAYLOAD: &str = "519c9a5f1458867cbe6316e45c28632390c613907481b633bae0a06c3d88045799fd0b25b9719159d8d4cfaef8cb4cfbd566f672f38eabe3964be3";
/// `client_finish` (hex).
pub(crate) const CLIENT_FINISH: &str = "226f0a303c0a5c921e7856dd9332f2789d594ddb5d455dded11f0bac579e416854f06e2f7a7aa92bac25b7a8f6efd261c2b1a62f123b519c9a5f1458867cbe6316e45c28632390c613907481b633bae0a06c3d88045799fd0b25b9719159d8d4cfaef8cb4cfbd566f672f38eabe3964be3";
/// `final_h` (hex).
pub(crate) const FINAL_H: &str = "1e7fbcd8f41abd936ceb94ce74278a234498787d91a20ba7b2835d56797ba622";
/// `final_ck` (hex).
pub(crate) const FINAL_CK: &str =
    "7f2412e58fa67c3caa5d557c1ab0521d00948363e083188ef431477f22891281";
/// `client_write_key` (hex).
pub(crate) const CLIENT_WRITE_KEY: &str =
    "09bfc0b8c6ef55261243cf907fd7b1f7e00c9a131dffb1551427353a3e7fb6e7";
/// `client_read_key` (hex).
pub(crate) const CLIENT_READ_KEY: &str =
    "e71e2cdbe21b4bc1da44a88298de012e241079f8be9008f9931acdfeb274a1a7";
/// `transport_plaintext` (hex).
pub(crate) const TRANSPORT_PLAINTEXT: &str = "00f80a1908ff0612345b6789a111fa000304291657f801f80156";
/// `frame_client_0` (hex).
pub(crate) const FRAME_CLIENT_0: &str =
    "00002a7129b35096fa952b36b16209b6c61af3fc1072d939da6b50da4554134b99e7070b1d1a6464d3f3d87f66";
/// `frame_client_1` (hex).
pub(crate) const FRAME_CLIENT_1: &str =
    "00002ae7b49c1a7eaab104292ea33e944c13b4f16ac50ee162e853b254b84dbd4511b3373b0443c3a7edeb24f3";
/// `frame_server_0` (hex).
pub(crate) const FRAME_SERVER_0: &str =
    "00002af43105bd1dd52975ff4ed50657ca5a360d7321f2372f1f39edd17b139d35487eff7581f03db726bd819b";
/// `first_ws_message` (hex).
pub(crate) const FIRST_WS_MESSAGE: &str =
    "5741060300002412220a20f01e3feed2953d4221feddad1b6baa06ee321666eb0e170d33428905b0057d4e";

/// The client state trace of §3.2 after init: (what, value) in order. `what` is `h`, `ck`
/// or `k`.
pub(crate) const TRACE: &[(&str, &str)] = &[
    (
        "h",
        "ffff0c9267310966f1311170c04b38c79504285bf5edf763e5c946492a50a755",
    ), // MixHash(prologue) → h
    (
        "h",
        "5ac8c26a339bae2fd940705293d8681c37f361223e6410a0b8f1cfa9a869a464",
    ), // MixHash(client ephemeral) → h
    (
        "h",
        "0a011c2d8d20b2fcfadb9e67a39076af48b51171f676f9c7a589c2e991db2542",
    ), // MixHash(server ephemeral) → h
    (
        "ck",
        "13bca07a43ecc6a77a03f22ac8de2cad6b3b0a2ab50e63275dbab33807e178fa",
    ), // MixKey(ee) → ck
    (
        "k",
        "238275b8d40646a5ccb195c92fc31d75bdd5e424db8a9d2528cf23645679e766",
    ), // MixKey(ee) → k
    (
        "h",
        "7d7e5ba5a969a85ca6a627a261181d167b44723cfe43d2fcf20af04563cfc84c",
    ), // MixHash(server static ciphertext) → h
    (
        "ck",
        "f59392d1752d86a915711f6e5c2e8782f717fbf76b5023f1bfb590a2a6196f9c",
    ), // MixKey(es) → ck
    (
        "k",
        "6e4c65e252be27c04b6a6ac3e6127cb7ae7353145e7854cb0b20d24641d3e032",
    ), // MixKey(es) → k
    (
        "h",
        "1c8bdbd0f506ded8c65fd0dc24ce3c59f9d6cd64392003be36edac76597aa409",
    ), // MixHash(cert chain ciphertext) → h
    (
        "h",
        "0e9f0c44c813c79fe5a8c4c49fabc4f31886f638b58a4c10ec6c7165a6f49e9e",
    ), // MixHash(client static ciphertext) → h
    (
        "ck",
        "7f2412e58fa67c3caa5d557c1ab0521d00948363e083188ef431477f22891281",
    ), // MixKey(se) → ck
    (
        "k",
        "184003b678f85328ccf0526baa7f329af57d72f1938a1890fa47fc4536be9b73",
    ), // MixKey(se) → k
    (
        "h",
        "1e7fbcd8f41abd936ceb94ce74278a234498787d91a20ba7b2835d56797ba622",
    ), // MixHash(client payload ciphertext) → h
];
