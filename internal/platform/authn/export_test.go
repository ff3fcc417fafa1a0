package authn

// TokenCacheSize is the capacity NewAuthenticator gives its token cache.
const TokenCacheSize = tokenCacheSize

// SetTokenCacheSize gives a an empty token cache holding at most n tokens,
// so tests can fill one quickly. Call it before a is used.
func SetTokenCacheSize(a *Authenticator, n int) { a.cache = newTokenCache(n) }

// CachedTokens returns how many tokens a's cache holds.
func CachedTokens(a *Authenticator) int { return a.cache.len() }
