//! How domain values are stored: each as its `as_str` text, read back with its `parse`. A stored
//! value that does not parse is an error (only this program writes these columns).

use sqlx::{
    Decode, Sqlite, Type,
    error::BoxDynError,
    sqlite::{SqliteTypeInfo, SqliteValueRef},
};

use crate::domain::{CallRole, EndReason, VisitOutcome};

macro_rules! stored_as_text {
    ($name:ty) => {
        impl Type<Sqlite> for $name {
            fn type_info() -> SqliteTypeInfo {
                <str as Type<Sqlite>>::type_info()
            }

            fn compatible(ty: &SqliteTypeInfo) -> bool {
                <str as Type<Sqlite>>::compatible(ty)
            }
        }

        impl<'r> Decode<'r, Sqlite> for $name {
            fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<Sqlite>>::decode(value)?;
                <$name>::parse(text)
                    .ok_or_else(|| format!("{text:?} is not a stored {}", stringify!($name)).into())
            }
        }
    };
}

stored_as_text!(CallRole);
stored_as_text!(EndReason);
stored_as_text!(VisitOutcome);
