//! Ledger operations for the CLIs, signed by the account they move.

use super::*;

impl Coordinator {
    pub async fn account(&self, address: Address) -> ApiResult<AccountInfo> {
        Ok(self.inner.ledger.account(address).await?)
    }

    pub async fn faucet(&self, address: Address, key: Option<&str>) -> ApiResult<MovedResponse> {
        let amount = self.inner.ledger.faucet(address, key).await?;
        self.moved(address, amount).await
    }

    pub async fn stake(&self, address: Address, r: AmountRequest) -> ApiResult<MovedResponse> {
        let key = r.idempotency_key.as_deref();
        let account = self.inner.ledger.stake(address, r.amount, key).await?;
        Ok(MovedResponse {
            amount: r.amount,
            account,
        })
    }

    pub async fn unstake(&self, address: Address, r: AmountRequest) -> ApiResult<MovedResponse> {
        let key = r.idempotency_key.as_deref();
        let account = self.inner.ledger.unstake(address, r.amount, key).await?;
        Ok(MovedResponse {
            amount: r.amount,
            account,
        })
    }

    pub async fn withdraw(&self, address: Address, key: Option<&str>) -> ApiResult<MovedResponse> {
        let amount = self.inner.ledger.withdraw(address, key).await?;
        self.moved(address, amount).await
    }

    pub async fn claim(&self, address: Address, key: Option<&str>) -> ApiResult<MovedResponse> {
        let amount = self.inner.ledger.claim(address, key).await?;
        self.moved(address, amount).await
    }

    async fn moved(&self, address: Address, amount: Amount) -> ApiResult<MovedResponse> {
        Ok(MovedResponse {
            amount,
            account: self.inner.ledger.account(address).await?,
        })
    }
}
