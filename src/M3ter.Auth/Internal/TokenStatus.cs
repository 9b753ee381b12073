using System;

namespace M3ter.Auth.Internal;

/// <summary>A snapshot of a token provider's state: what it holds, and how fetching the next token goes.</summary>
/// <param name="ValidToken">The cached token if it has not expired.</param>
/// <param name="RefreshFailures">Background refreshes that failed in a row while the token was still valid.</param>
/// <param name="LastFailure">Why the last token request failed, if the last one did.</param>
/// <param name="SharedCacheUnavailable">Why the shared token cache is not in use right now, if there is one and it is not.</param>
internal sealed record TokenStatus(M3terToken? ValidToken, int RefreshFailures, Exception? LastFailure, string? SharedCacheUnavailable = null)
{
    /// <summary>Gets the cached token, if any, expired or not.</summary>
    public M3terToken? CachedToken { get; init; }

    /// <summary>Gets when the cached token is due for refresh, if there is one.</summary>
    public DateTimeOffset? RefreshAt { get; init; }

    /// <summary>Gets a value indicating whether a token request is in flight.</summary>
    public bool IsFetching { get; init; }
}

/// <summary>Implemented by the providers that can report a <see cref="TokenStatus"/>.</summary>
internal interface ITokenStatusSource
{
    TokenStatus GetStatus();
}

/// <summary>
/// What the registration and the tenant cache do with a <see cref="TokenProvider"/> besides asking it for tokens: read
/// the options it was built with, hand a token on to the provider that replaces it at a reload, and retire it.
/// </summary>
internal interface IReplaceableTokenProvider
{
    /// <summary>Gets the (validated) options the provider runs with.</summary>
    M3terAuthOptions Options { get; }

    /// <summary>
    /// The cached token if it has not expired, and (<paramref name="foreign"/>) whether it was obtained with other
    /// credentials (carried over by a reload) and awaits replacement, read together. Unlike the status snapshot, it
    /// asks nothing of a shared cache.
    /// </summary>
    M3terToken? ValidToken(out bool foreign);

    /// <summary>
    /// Caches a token obtained elsewhere (by the provider this one replaces), if nothing is cached yet. With
    /// <paramref name="refreshNow"/> the token is served only until this provider's own request produces the next
    /// one, which starts at once; otherwise it is refreshed on this provider's schedule.
    /// </summary>
    void Adopt(M3terToken token, bool refreshNow);

    /// <summary>
    /// Drops the cached token and stops its timer, without cancelling a request that callers may still be waiting on:
    /// for a provider that configuration has just replaced. A request still in flight no longer caches its token.
    /// A caller that comes later is handed to <paramref name="successor"/>: a retired provider never requests a token
    /// with the replaced settings.
    /// </summary>
    void Retire(TokenProvider? successor = null);
}
