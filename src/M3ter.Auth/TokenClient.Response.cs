using System;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;

namespace M3ter.Auth;

// One answer of the token endpoint: read (bounded), parsed, redacted and described.
public sealed partial class TokenClient
{
    private const int MaxBodyBytes = 64 * 1024;

    private const int MaxDescriptionLength = 256;

    private static async Task<byte[]> ReadBodyAsync(HttpContent content, CancellationToken cancellationToken)
    {
#if NET5_0_OR_GREATER
        using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
#else
        using var stream = await content.ReadAsStreamAsync().ConfigureAwait(false);
#endif
        using var buffer = new System.IO.MemoryStream();
        byte[] chunk = new byte[8192];
        int read;
#if NET5_0_OR_GREATER
        while ((read = await stream.ReadAsync(chunk.AsMemory(), cancellationToken).ConfigureAwait(false)) > 0)
#else
        while ((read = await stream.ReadAsync(chunk, 0, chunk.Length, cancellationToken).ConfigureAwait(false)) > 0)
#endif
        {
            // A token response is a few hundred bytes; anything this large is not one, and reading it all helps nobody.
            int room = MaxBodyBytes - (int)buffer.Length;
            buffer.Write(chunk, 0, Math.Min(read, room));
            if (read >= room)
            {
                break;
            }
        }

        return buffer.ToArray();
    }

    private TokenAttempt ParseToken(HttpResponseMessage response, byte[] body, DateTimeOffset sentAt)
    {
        TokenResponse? parsed = TokenResponse.Parse(body, out string? problem);
        if (parsed is null)
        {
            // A content type that is not JSON (a gateway's HTML page) says more than the parser can.
            string? mediaType = response.Content.Headers.ContentType?.MediaType;
            return Malformed(response, mediaType is null || IsJson(mediaType)
                ? problem!
                : problem + " (Content-Type " + Sanitize(mediaType) + ")");
        }

        if (string.IsNullOrWhiteSpace(parsed.AccessToken))
        {
            return Malformed(response, "it has no access_token");
        }

        if (BearerTokenSyntax.FindInvalid(parsed.AccessToken!) is int invalid and >= 0)
        {
            return Malformed(response, BearerTokenSyntax.Describe("its access_token", invalid));
        }

        if (parsed.ExpiresIn is not long expiresIn)
        {
            return Malformed(response, "it has no expires_in");
        }

        if (expiresIn <= 0)
        {
            return Malformed(response, string.Format(CultureInfo.InvariantCulture, "expires_in must be a positive number of seconds, but it is {0}", expiresIn));
        }

        if (parsed.TokenType is { Length: > 0 } type && !string.Equals(type, "Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return Malformed(response, "its token_type is '" + Sanitize(type) + "', not Bearer");
        }

        // m3ter documents 5-hour tokens; a lifetime beyond a day is not believed, so a bad value cannot pin a token forever.
        TimeSpan lifetime = TimeSpan.FromSeconds(Math.Min(expiresIn, (long)MaxLifetime.TotalSeconds));
        var token = new M3terToken(parsed.AccessToken!, parsed.TokenType, sentAt + lifetime, sentAt);
        Log.TokenAcquired(_logger, token.ExpiresAt, lifetime);
        return TokenAttempt.Success(token);
    }

    private static bool IsJson(string mediaType) =>
#if NET5_0_OR_GREATER
        mediaType.Contains("json", StringComparison.OrdinalIgnoreCase);
#else
        mediaType.IndexOf("json", StringComparison.OrdinalIgnoreCase) >= 0;
#endif

    private TokenAttempt Malformed(HttpResponseMessage response, string problem) =>
        TokenAttempt.Failed(
            new M3terAuthException(
                string.Format(CultureInfo.InvariantCulture, "m3ter's token endpoint {0} answered {1} but not with a token: {2}.", _tokenEndpoint, DescribeStatus(response.StatusCode), problem),
                response.StatusCode,
                null,
                null),
            isTransient: false);

    /// <summary>
    /// The primary handler followed a redirect: the request now names another address. HttpClient drops the
    /// Authorization header on every redirect, so whatever answered there never saw the credentials: its 401 is not
    /// m3ter refusing them, and its 200 is not a token for them. Not transient, and not a rejection.
    /// </summary>
    private TokenAttempt Redirected(Uri? target, HttpStatusCode finalStatus) =>
        TokenAttempt.Failed(
            new M3terAuthException(
                string.Format(
                    CultureInfo.InvariantCulture,
                    "m3ter's token endpoint {0} redirected the token request to {1}, which answered {2}. A redirect drops the credentials, so no token can come from it: set BaseAddress to the address that answers the token request itself.",
                    _tokenEndpoint,
                    target is null ? "another address" : Sanitize(target.IsAbsoluteUri ? target.GetLeftPart(UriPartial.Path) : target.OriginalString)!,
                    DescribeStatus(finalStatus)),
                statusCode: null,
                error: null,
                errorDescription: null),
            isTransient: false);

    private TokenAttempt ParseError(HttpResponseMessage response, byte[] body)
    {
        ErrorResponse? error = null;
        if (body.Length > 0 && body[0] is (byte)'{' or (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t')
        {
            try
            {
                error = JsonSerializer.Deserialize(body, M3terJsonContext.Default.ErrorResponse);
            }
            catch (JsonException)
            {
                // Gateways answer with HTML or plain text: the status alone has to do.
            }
        }

        string? code = Sanitize(error?.Error);
        string? description = Sanitize(error?.ErrorDescription ?? error?.Message);
        HttpStatusCode status = response.StatusCode;
        int numeric = (int)status;
        bool transient = numeric is 408 or 429 || numeric >= 500;
        bool rejected = numeric is 400 or 401 or 403;

        var message = new StringBuilder();
        if (rejected)
        {
            message.AppendFormat(CultureInfo.InvariantCulture, "m3ter rejected the credentials of access key '{0}' at {1}: {2}", _options.AccessKeyId, _tokenEndpoint, DescribeStatus(status));
        }
        else
        {
            message.AppendFormat(CultureInfo.InvariantCulture, "m3ter's token endpoint {0} answered {1}", _tokenEndpoint, DescribeStatus(status));
        }

        if (code is not null || description is not null)
        {
            message.Append(" (");
            message.Append(code is not null && description is not null ? code + ": " + description : code ?? description);
            message.Append(')');
        }

        TimeSpan? retryAfter = RetryDelays.FromRetryAfter(response.Headers.RetryAfter, _timeProvider.GetUtcNow());
        if (retryAfter is TimeSpan wait)
        {
            message.Append("; it asked to retry after ").Append(RetryDelays.Describe(wait));
        }

        message.Append(rejected ? ". Check AccessKeyId and ApiSecret." : transient ? string.Format(CultureInfo.InvariantCulture, ". Retried up to {0} time(s).", _options.MaxRetryAttempts) : ".");
        return TokenAttempt.Failed(new M3terAuthException(message.ToString(), status, code, description), transient, retryAfter);
    }

    private static string DescribeStatus(HttpStatusCode status) =>
        string.Format(CultureInfo.InvariantCulture, "{0} {1}", (int)status, status);

    /// <summary>Keeps the server's words short and free of our secret, in case a server echoes what it was sent.</summary>
    private string? Sanitize(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        string clean = Redact(Redact(text!, _options.ApiSecret), _basicAuthorization.Parameter!);
        return Truncate(clean);
    }

    private static string Redact(string text, string secret) =>
#if NET5_0_OR_GREATER
        secret.Length == 0 ? text : text.Replace(secret, "***", StringComparison.Ordinal);
#else
        secret.Length == 0 ? text : text.Replace(secret, "***");
#endif

    private static string Truncate(string text) =>
        text.Length <= MaxDescriptionLength ? text : text.Substring(0, MaxDescriptionLength) + "…";
}
