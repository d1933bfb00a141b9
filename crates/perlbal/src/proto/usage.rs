//! A command's usage line as an error: kept by the plugin commands, which
//! parse before anyone knows whether their plugin is loaded (1.80 checks
//! the plugin first, then the syntax).

/// 1.80's usage line for a command written wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub &'static str);

/// An error is the text it prints (1.80's words, which the console sends
/// after `ERROR: `): it turns into that `String` and equals it.
macro_rules! error_text {
    ($($t:ty),* $(,)?) => {
        $(
            impl From<$t> for String {
                fn from(e: $t) -> String {
                    e.to_string()
                }
            }

            impl PartialEq<&str> for $t {
                fn eq(&self, other: &&str) -> bool {
                    let text = self.to_string();
                    text.as_str() == *other
                }
            }
        )*
    };
}
pub(crate) use error_text;

error_text!(Usage);
