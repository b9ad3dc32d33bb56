//! How domain values are stored: each as its `as_str` text, read back with its `parse`. A stored
//! value that does not parse is an error (only this program writes these columns). The same on
//! both engines.

use sqlx::{Database, Decode, Type, error::BoxDynError};

use crate::domain::{CallRole, EndReason, VisitOutcome};

macro_rules! stored_as_text {
    ($name:ty) => {
        impl<DB: Database> Type<DB> for $name
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $name
        where
            &'r str: Decode<'r, DB>,
        {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<DB>>::decode(value)?;
                <$name>::parse(text)
                    .ok_or_else(|| format!("{text:?} is not a stored {}", stringify!($name)).into())
            }
        }
    };
}

stored_as_text!(CallRole);
stored_as_text!(EndReason);
stored_as_text!(VisitOutcome);
