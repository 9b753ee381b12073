using System;
using System.Net;
using System.Net.Http;
using System.Text;
using M3ter.Auth.Internal;

namespace M3ter.Auth.Fuzz;

/// <summary>
/// The parsers of M3ter.Auth that face the network, as fuzz targets. Each takes any bytes and either returns or throws
/// something other than the documented exception types, which is the finding. The same functions replay the corpus
/// and every finding in the unit tests (FuzzRegressionTests), so a finding stays fixed.
/// </summary>
public static class AuthTargets
{
    private static readonly HttpStatusCode[] Statuses =
    [
        HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.BadRequest, HttpStatusCode.Unauthorized,
        HttpStatusCode.Forbidden, HttpStatusCode.TooManyRequests, HttpStatusCode.InternalServerError, HttpStatusCode.ServiceUnavailable, HttpStatusCode.NoContent,
        HttpStatusCode.Found,
    ];

    private static readonly string?[] ContentTypes =
    [
        "application/json", "application/json; charset=utf-8", "text/html", "text/plain", null, "application/problem+json", "application/json; charset=iso-8859-1", "garbage",
    ];

    private static readonly M3terAuthOptions Options = new()
    {
        AccessKeyId = "fuzz-key",
        ApiSecret = "fuzz-secret-0123456789",
        MaxRetryAttempts = 0,
        TokenRequestTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>
    /// A token endpoint's answer: byte 0 picks the status, byte 1 the content type, the rest is the body. The client
    /// returns a token that can go on a request, or throws <see cref="M3terAuthException"/> without the secret in it.
    /// </summary>
    public static void TokenResponse(ReadOnlySpan<byte> input)
    {
        HttpStatusCode status = Statuses[input.Length > 0 ? input[0] % Statuses.Length : 0];
        string? contentType = ContentTypes[input.Length > 1 ? input[1] % ContentTypes.Length : 0];
        byte[] body = input.Length > 2 ? input[2..].ToArray() : [];
        using var http = new HttpClient(new FixedAnswer(status, contentType, body));
        var client = new TokenClient(http, Options);
        try
        {
            M3terToken token = client.RequestTokenAsync().GetAwaiter().GetResult();
            if (BearerTokenSyntax.FindInvalid(token.AccessToken) >= 0 || token.ExpiresAt <= token.IssuedAt)
            {
                throw new InvalidOperationException("fuzz: a token that cannot be used was accepted");
            }
        }
        catch (M3terAuthException ex) when (!ex.ToString().Contains(Options.ApiSecret, StringComparison.Ordinal))
        {
        }
    }

    /// <summary>The <c>exp</c> of a pre-issued token, any text: a date or nothing, never an exception.</summary>
    public static void JwtExpiry(ReadOnlySpan<byte> input) => _ = Internal.JwtExpiry.TryRead(Encoding.UTF8.GetString(input));
}
