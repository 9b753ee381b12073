using System;

namespace M3ter.Auth.Internal;

/// <summary>A snapshot of a token provider's health.</summary>
/// <param name="ValidToken">The cached token if it has not expired.</param>
/// <param name="RefreshFailures">Background refreshes that failed in a row while the token was still valid.</param>
/// <param name="LastFailure">Why the last token request failed, if the last one did.</param>
/// <param name="SharedCacheUnavailable">Why the shared token cache is not in use right now, if there is one and it is not.</param>
internal sealed record TokenStatus(M3terToken? ValidToken, int RefreshFailures, Exception? LastFailure, string? SharedCacheUnavailable = null);

/// <summary>Implemented by the providers that can report a <see cref="TokenStatus"/>.</summary>
internal interface ITokenStatusSource
{
    TokenStatus GetStatus();
}
