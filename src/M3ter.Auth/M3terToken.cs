using System;
using System.Diagnostics;
using System.Globalization;

namespace M3ter.Auth;

/// <summary>An access token issued by m3ter's token endpoint.</summary>
/// <remarks>Neither <see cref="ToString"/> nor the debugger display shows <see cref="AccessToken"/>.</remarks>
[DebuggerDisplay("{ToString(),nq}")]
public sealed class M3terToken
{
    /// <summary>Initializes a new instance of the <see cref="M3terToken"/> class.</summary>
    /// <param name="accessToken">The access token.</param>
    /// <param name="tokenType">The token type; <c>Bearer</c> when empty.</param>
    /// <param name="expiresAt">When the token expires.</param>
    /// <exception cref="ArgumentException"><paramref name="accessToken"/> is null or empty.</exception>
    public M3terToken(string accessToken, string? tokenType, DateTimeOffset expiresAt)
        : this(accessToken, tokenType, expiresAt, expiresAt)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="M3terToken"/> class, with when it was requested (for a shared cache that stores tokens).</summary>
    /// <param name="accessToken">The access token.</param>
    /// <param name="tokenType">The token type; <c>Bearer</c> when empty.</param>
    /// <param name="expiresAt">When the token expires.</param>
    /// <param name="issuedAt">When the token was requested: its lifetime starts here, and its refresh is planned from it.</param>
    /// <exception cref="ArgumentException"><paramref name="accessToken"/> is null or empty.</exception>
    public M3terToken(string accessToken, string? tokenType, DateTimeOffset expiresAt, DateTimeOffset issuedAt)
    {
        if (string.IsNullOrEmpty(accessToken))
        {
            throw new ArgumentException("The access token must not be empty.", nameof(accessToken));
        }

        AccessToken = accessToken;
        TokenType = string.IsNullOrEmpty(tokenType) ? "Bearer" : tokenType!;
        ExpiresAt = expiresAt;
        IssuedAt = issuedAt;
        HeaderValue = new Internal.M3terBearerHeaderValue(accessToken);
    }

    /// <summary>Gets the access token. Treat it as a secret: it grants access to the organization.</summary>
    public string AccessToken { get; }

    /// <summary>Gets the token type as the server sent it (<c>Bearer</c> when it sent none).</summary>
    public string TokenType { get; }

    /// <summary>Gets when the token expires: the moment its request was sent plus the lifetime the server granted.</summary>
    public DateTimeOffset ExpiresAt { get; }

    /// <summary>Gets when the token was requested (its lifetime starts here); equal to <see cref="ExpiresAt"/> when unknown.</summary>
    public DateTimeOffset IssuedAt { get; }

    /// <summary>Whether this is a pre-issued token (<see cref="M3terAuthOptions.AccessToken"/>): it cannot be refreshed or replaced.</summary>
    internal bool IsStatic { get; init; }

    /// <summary>
    /// The <c>Authorization</c> header value for this token, made once and shared by every request that uses it
    /// (the header is only ever read, so sharing one instance is safe and keeps the hot path allocation-free). Its
    /// type marks it as the handler's own.
    /// </summary>
    internal Internal.M3terBearerHeaderValue HeaderValue { get; }

    /// <summary>Returns a description of the token that never includes the access token itself.</summary>
    /// <returns>The token type and expiry, for example <c>Bearer token expiring 2026-11-27T20:00:00.0000000+00:00</c>.</returns>
    public override string ToString() =>
        string.Format(CultureInfo.InvariantCulture, "{0} token expiring {1:O}", TokenType, ExpiresAt);
}
