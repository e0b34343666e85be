//! Keyed redaction: sensitive values (email addresses, phone numbers, token names, anything a
//! caller marks) enter the log as `hmac-sha256:<hex>` under a key that lives outside the database,
//! like Vault's audit devices. The same value always gives the same text, so an auditor holding the
//! key can ask "was this address used?" without the log ever holding the address.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The redaction key. Held by the server; never logged.
#[derive(Clone)]
pub struct Redactor {
    key: [u8; 32],
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor(..)")
    }
}

impl Redactor {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    pub fn generate() -> Self {
        use rand::RngCore as _;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self { key }
    }

    pub fn key_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// The text that stands for `value` in the log.
    pub fn redact(&self, value: &str) -> String {
        // A 32-byte key is always a valid HMAC key, so this cannot fail.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(value.as_bytes());
        format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Replaces the values of the named keys, at any depth, in a JSON document.
    pub fn redact_json(&self, value: &mut serde_json::Value, sensitive: &[&str]) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if sensitive.contains(&k.as_str()) {
                        let text = match &*v {
                            serde_json::Value::Null => None,
                            serde_json::Value::String(s) => Some(s.clone()),
                            other => Some(other.to_string()),
                        };
                        if let Some(text) = text {
                            *v = serde_json::Value::String(self.redact(&text));
                        }
                    } else {
                        self.redact_json(v, sensitive);
                    }
                }
            }
            serde_json::Value::Array(items) => items
                .iter_mut()
                .for_each(|v| self.redact_json(v, sensitive)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_same_text_and_never_the_value() {
        let r = Redactor::new([9; 32]);
        let a = r.redact("ops@example.com");
        assert_eq!(a, r.redact("ops@example.com"));
        assert_ne!(a, r.redact("ops@example.org"));
        assert!(!a.contains("example"));
        assert_ne!(a, Redactor::new([8; 32]).redact("ops@example.com"));
    }

    #[test]
    fn nested_sensitive_keys_are_replaced() {
        let r = Redactor::new([1; 32]);
        let mut v = serde_json::json!({"after": {"email": "a@b.c", "name": "A"}, "list": [{"phone": "+44 1"}], "email": null});
        r.redact_json(&mut v, &["email", "phone"]);
        let text = v.to_string();
        assert!(!text.contains("a@b.c") && !text.contains("+44"));
        assert_eq!(v["after"]["name"], "A");
        assert!(v["email"].is_null());
    }
}
