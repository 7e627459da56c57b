//! Numeric ids as newtypes, so a pre-key id is never passed where a registration id belongs.

use core::fmt;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u32);

        impl $name {
            /// The id with this value.
            pub const fn new(value: u32) -> Self {
                Self(value)
            }

            /// The numeric value.
            pub const fn value(self) -> u32 {
                self.0
            }
        }

        impl From<u32> for $name {
            fn from(value: u32) -> Self {
                Self(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

id_newtype!(
    /// A device's Signal registration id (WhatsApp uses 14-bit values; any `u32` is carried).
    RegistrationId
);
id_newtype!(
    /// The id of a one-time pre-key.
    PreKeyId
);
id_newtype!(
    /// The id of a signed pre-key.
    SignedPreKeyId
);
id_newtype!(
    /// The id of a sender key (a group sender's chain; `id` in Baileys, "chain id" upstream).
    SenderKeyId
);
