//! Encrypted key files in the Web3 Secret Storage format (version 3, scrypt, AES-128-CTR), the
//! format starkli and other Starknet tools read and write.
//!
//! The secret is the key's 32 big-endian bytes. The password derives a 32-byte key with scrypt;
//! its first half encrypts the secret, its second half authenticates the ciphertext with
//! Keccak-256, so a wrong password is told apart from a damaged file.

use aes::cipher::{KeyIvInit, StreamCipher};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};

/// scrypt cost used for new files: log2(N) = 18 (N = 262144), r = 8, p = 1, as in the
/// format's reference vectors and starkli. About a second on one core.
pub const SCRYPT_LOG_N: u8 = 18;

#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("wrong password (the keystore's MAC does not match)")]
    WrongPassword,
    #[error("keystore is not a Web3 Secret Storage v3 file: {0}")]
    Format(String),
    #[error("keystore uses {0}, only scrypt with aes-128-ctr is supported")]
    Unsupported(String),
}

/// The JSON file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keystore {
    pub crypto: Crypto,
    pub id: String,
    pub version: u32,
    /// Public data for people: the key's public key or address, never the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crypto {
    pub cipher: String,
    pub cipherparams: CipherParams,
    pub ciphertext: String,
    pub kdf: String,
    pub kdfparams: KdfParams,
    pub mac: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CipherParams {
    pub iv: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub dklen: u32,
    pub n: u64,
    pub p: u32,
    pub r: u32,
    pub salt: String,
}

fn derive(password: &str, kdf: &KdfParams) -> Result<[u8; 32], KeystoreError> {
    if kdf.dklen != 32 || !kdf.n.is_power_of_two() || kdf.n < 2 || kdf.n > 1 << 22 {
        return Err(KeystoreError::Unsupported(format!(
            "scrypt with n={} dklen={}",
            kdf.n, kdf.dklen
        )));
    }
    let salt = hex::decode(&kdf.salt).map_err(|e| KeystoreError::Format(format!("salt: {e}")))?;
    let params = scrypt::Params::new(kdf.n.ilog2() as u8, kdf.r, kdf.p, 32)
        .map_err(|e| KeystoreError::Unsupported(format!("scrypt parameters: {e}")))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key)
        .map_err(|e| KeystoreError::Format(format!("scrypt: {e}")))?;
    Ok(key)
}

fn mac(derived: &[u8; 32], ciphertext: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(&derived[16..32]);
    h.update(ciphertext);
    h.finalize().into()
}

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

fn apply_ctr(key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), KeystoreError> {
    let mut cipher = Aes128Ctr::new_from_slices(key, iv)
        .map_err(|_| KeystoreError::Format("iv must be 16 bytes".into()))?;
    cipher.apply_keystream(data);
    Ok(())
}

impl Keystore {
    /// Encrypts `secret` under `password` with the default scrypt cost.
    pub fn encrypt(secret: &[u8], password: &str, address: Option<String>) -> Self {
        Self::encrypt_with_cost(secret, password, address, SCRYPT_LOG_N)
    }

    /// As [`Keystore::encrypt`] with scrypt cost `2^log_n` (tests use a low cost).
    pub fn encrypt_with_cost(
        secret: &[u8],
        password: &str,
        address: Option<String>,
        log_n: u8,
    ) -> Self {
        let mut rng = rand::rngs::OsRng;
        let mut salt = [0u8; 32];
        let mut iv = [0u8; 16];
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut iv);
        rng.fill_bytes(&mut id);
        // A version-4 UUID, as the format expects in `id`.
        id[6] = (id[6] & 0x0f) | 0x40;
        id[8] = (id[8] & 0x3f) | 0x80;
        let h = hex::encode(id);
        let kdfparams = KdfParams {
            dklen: 32,
            n: 1 << log_n,
            p: 1,
            r: 8,
            salt: hex::encode(salt),
        };
        let derived = derive(password, &kdfparams).expect("our own parameters are valid");
        let mut ciphertext = secret.to_vec();
        apply_ctr(&derived[..16], &iv, &mut ciphertext).expect("16-byte iv");
        Self {
            crypto: Crypto {
                cipher: "aes-128-ctr".into(),
                cipherparams: CipherParams {
                    iv: hex::encode(iv),
                },
                mac: hex::encode(mac(&derived, &ciphertext)),
                ciphertext: hex::encode(ciphertext),
                kdf: "scrypt".into(),
                kdfparams,
            },
            id: format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            ),
            version: 3,
            address,
        }
    }

    /// Decrypts the secret; refuses a wrong password before decrypting anything.
    pub fn decrypt(&self, password: &str) -> Result<Vec<u8>, KeystoreError> {
        if self.version != 3 {
            return Err(KeystoreError::Format(format!("version {}", self.version)));
        }
        if self.crypto.kdf != "scrypt" || self.crypto.cipher != "aes-128-ctr" {
            return Err(KeystoreError::Unsupported(format!(
                "{} with {}",
                self.crypto.kdf, self.crypto.cipher
            )));
        }
        let field = |name: &str, text: &str| {
            hex::decode(text).map_err(|e| KeystoreError::Format(format!("{name}: {e}")))
        };
        let ciphertext = field("ciphertext", &self.crypto.ciphertext)?;
        let iv = field("iv", &self.crypto.cipherparams.iv)?;
        let expected = field("mac", &self.crypto.mac)?;
        let derived = derive(password, &self.crypto.kdfparams)?;
        if mac(&derived, &ciphertext).as_slice() != expected.as_slice() {
            return Err(KeystoreError::WrongPassword);
        }
        let mut secret = ciphertext;
        apply_ctr(&derived[..16], &iv, &mut secret)?;
        Ok(secret)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("keystores serialize")
    }

    pub fn from_json(text: &str) -> Result<Self, KeystoreError> {
        serde_json::from_str(text).map_err(|e| KeystoreError::Format(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by an independent implementation (Python `eth-keyfile` 0.10,
    /// `create_keyfile_json(bytes([1] * 32), b"pw", kdf="scrypt")`); our own files were checked
    /// the other way with the same library.
    const FOREIGN: &str = r#"{"address": "1a642f0E3c3aF545E7AcBD38b07251B3990914F1", "crypto": {"cipher": "aes-128-ctr", "cipherparams": {"iv": "48070ee107ae1ad63beb2c515703a218"}, "ciphertext": "99c3e6cd0397d25b8132453647b8afee57afb90e6098b1a4e853cfe909d92749", "kdf": "scrypt", "kdfparams": {"dklen": 32, "n": 262144, "r": 8, "p": 1, "salt": "b15adfba02d227c1c190a2ab747440ef"}, "mac": "c4cfc41c3cdb9d742ac20f867726606e59613932a6787d7b6a87fa29a452c698"}, "id": "93859468-53dd-483a-b809-fc6423391a03", "version": 3}"#;

    #[test]
    fn decrypts_a_keystore_written_by_another_implementation() {
        let keystore = Keystore::from_json(FOREIGN).unwrap();
        assert_eq!(keystore.decrypt("pw").unwrap(), [1u8; 32]);
        assert!(matches!(
            keystore.decrypt("pW"),
            Err(KeystoreError::WrongPassword)
        ));
    }

    #[test]
    fn new_files_use_the_parameters_starknet_tools_write() {
        let keystore = Keystore::encrypt(&[1u8; 32], "pw", None);
        let json: serde_json::Value = serde_json::from_str(&keystore.to_json()).unwrap();
        assert_eq!(json["version"], 3);
        assert_eq!(json["crypto"]["kdf"], "scrypt");
        assert_eq!(json["crypto"]["cipher"], "aes-128-ctr");
        assert_eq!(json["crypto"]["kdfparams"]["n"], 262_144);
        assert_eq!(json["crypto"]["kdfparams"]["r"], 8);
        assert_eq!(json["crypto"]["kdfparams"]["p"], 1);
        assert_eq!(json["crypto"]["kdfparams"]["dklen"], 32);
        assert_eq!(keystore.decrypt("pw").unwrap(), [1u8; 32]);
    }

    #[test]
    fn round_trips_and_refuses_a_wrong_password_or_a_damaged_file() {
        let secret = [7u8; 32];
        let keystore = Keystore::encrypt_with_cost(&secret, "hunter2", Some("0x1".into()), 4);
        let text = keystore.to_json();
        assert!(
            !text.contains(&hex::encode(secret)),
            "the secret is not in the file"
        );
        let back = Keystore::from_json(&text).unwrap();
        assert_eq!(back.decrypt("hunter2").unwrap(), secret);
        assert!(matches!(
            back.decrypt("hunter3"),
            Err(KeystoreError::WrongPassword)
        ));
        let mut damaged = back.clone();
        damaged.crypto.ciphertext.replace_range(0..2, "00");
        if damaged.crypto.ciphertext != back.crypto.ciphertext {
            assert!(matches!(
                damaged.decrypt("hunter2"),
                Err(KeystoreError::WrongPassword)
            ));
        }
        assert!(Keystore::from_json("{}").is_err());
    }
}
