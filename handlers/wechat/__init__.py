"""The WeChat Official Account channel (微信公众号): signature and crypto, XML in and out,
rendering of replies, and the platform's HTTP API. It translates and decides nothing."""
