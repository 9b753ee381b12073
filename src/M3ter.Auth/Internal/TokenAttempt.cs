using System;

namespace M3ter.Auth.Internal;

/// <summary>The outcome of one attempt at the token endpoint: a token, or why not and whether retrying may help.</summary>
internal sealed class TokenAttempt
{
    private TokenAttempt(M3terToken? token, M3terAuthException? failure, bool isTransient, TimeSpan? retryAfter)
    {
        Token = token;
        Failure = failure;
        IsTransient = isTransient;
        RetryAfter = retryAfter;
    }

    public M3terToken? Token { get; }

    public M3terAuthException? Failure { get; }

    /// <summary>Whether the failure is worth retrying (408, 429, 5xx).</summary>
    public bool IsTransient { get; }

    /// <summary>The delay the server asked for with <c>Retry-After</c>, if any.</summary>
    public TimeSpan? RetryAfter { get; }

    public static TokenAttempt Success(M3terToken token) => new(token, null, false, null);

    public static TokenAttempt Failed(M3terAuthException failure, bool isTransient, TimeSpan? retryAfter = null) =>
        new(null, failure, isTransient, retryAfter);
}
