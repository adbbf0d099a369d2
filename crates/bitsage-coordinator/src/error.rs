//! [`ApiError`]: every refusal the API gives, with its HTTP status and stable code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bitsage_ledger::LedgerError;
use bitsage_protocol::{AuthError, ErrorBody};

use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    /// A 4xx with a code and a message for the caller.
    Client {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// Logged with its cause, shown as a plain 500.
    Internal(String),
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Client {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Client { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Client { code, .. } => code,
            ApiError::Internal(_) => "internal",
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Client { code, message, .. } => write!(f, "{code}: {message}"),
            ApiError::Internal(cause) => write!(f, "internal error: {cause}"),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = match e {
            AuthError::MissingHeader(_) | AuthError::MalformedHeader { .. } => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::BadSignature => StatusCode::UNAUTHORIZED,
            AuthError::StaleTimestamp { .. } => StatusCode::UNAUTHORIZED,
            AuthError::ReplayedNonce { .. } => StatusCode::CONFLICT,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ReplayedNonce(nonce) => AuthError::ReplayedNonce { nonce }.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        let message = e.to_string();
        match e {
            LedgerError::InsufficientFunds { .. } => {
                Self::new(StatusCode::PAYMENT_REQUIRED, "insufficient_funds", message)
            }
            LedgerError::FaucetDisabled { .. } => Self::forbidden("faucet_disabled", message),
            LedgerError::FaucetRateLimited { .. } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "faucet_rate_limited",
                message,
            ),
            LedgerError::CooldownActive { .. } => Self::conflict("cooldown_active", message),
            LedgerError::NothingToWithdraw { .. } => Self::conflict("nothing_to_withdraw", message),
            LedgerError::ZeroAmount => Self::unprocessable("zero_amount", message),
            LedgerError::IdempotencyConflict { .. } => {
                Self::conflict("idempotency_conflict", message)
            }
            LedgerError::JobConflict { .. } | LedgerError::JobAlreadySettled { .. } => {
                Self::conflict("job_conflict", message)
            }
            LedgerError::UnknownJob { .. } => Self::not_found("unknown_job", message),
            LedgerError::InvalidFraction { .. } | LedgerError::Overflow => {
                Self::unprocessable("invalid_amount", message)
            }
            LedgerError::SignedByAccount { .. } => Self::conflict("sign_on_chain", message),
            LedgerError::ChainRejected(_) => Self::conflict("chain_rejected", message),
            LedgerError::WorkerWithoutTier { .. } => Self::forbidden("insufficient_stake", message),
            // Nothing was decided: the caller may retry.
            LedgerError::ChainUnavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "chain_unavailable",
                message,
            ),
            LedgerError::Corrupt(_) | LedgerError::Database(_) => ApiError::Internal(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Client {
                status,
                code,
                message,
            } => (
                status,
                Json(ErrorBody {
                    error: code.to_string(),
                    message,
                }),
            )
                .into_response(),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
            }
        }
    }
}
