using System;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace M3ter.Auth;

/// <summary>
/// Requests access tokens from m3ter's token endpoint (<c>{BaseAddress}oauth/token</c>) with the client credentials
/// grant and HTTP Basic authentication, retrying transient failures with jittered exponential back-off.
/// </summary>
/// <remarks>Every call sends a request: wrap it in a <see cref="TokenProvider"/> to cache tokens.</remarks>
public sealed class TokenClient : ITokenClient
{
    /// <summary>The name of the <see cref="HttpClient"/> that <c>AddM3terAuth()</c> registers for token requests.</summary>
    public const string HttpClientName = "M3ter.Auth.TokenClient";

    /// <summary>m3ter documents 5-hour tokens; a longer lifetime than a day is not believed.</summary>
    internal static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(1);

    private const int MaxBodyBytes = 64 * 1024;
    private const int MaxDescriptionLength = 256;

    private static readonly byte[] GrantBody = Encoding.UTF8.GetBytes("{\"grant_type\":\"client_credentials\"}");
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json");
    private static readonly MediaTypeWithQualityHeaderValue AcceptJson = new("application/json");

    private readonly Func<HttpClient> _httpClient;
    private readonly M3terAuthOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly Uri _tokenEndpoint;
    private readonly AuthenticationHeaderValue _basicAuthorization;
    private readonly ResiliencePipeline<TokenAttempt> _pipeline;
    private readonly M3terToken? _staticToken;

    /// <summary>Initializes a new instance of the <see cref="TokenClient"/> class.</summary>
    /// <param name="httpClient">The client that sends token requests; its <see cref="HttpClient.BaseAddress"/> is not used.</param>
    /// <param name="options">The credentials and settings; copied, so later changes to the instance have no effect.</param>
    /// <param name="timeProvider">The clock that stamps when a request was sent; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="logger">Where to log; nothing by default.</param>
    /// <exception cref="ArgumentNullException"><paramref name="httpClient"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> is not valid; the message names the setting.</exception>
    public TokenClient(HttpClient httpClient, M3terAuthOptions options, TimeProvider? timeProvider = null, ILogger<TokenClient>? logger = null)
        : this(CaptureClient(httpClient), options, timeProvider, logger)
    {
    }

    // pipeline: one built by BuildPipeline for the same token settings, shared by many clients (one per tenant); built here when null.
    internal TokenClient(Func<HttpClient> httpClient, M3terAuthOptions options, TimeProvider? timeProvider, ILogger? logger, ResiliencePipeline<TokenAttempt>? pipeline = null)
    {
        _httpClient = httpClient ?? throw new ArgumentNullException(nameof(httpClient));
        _options = M3terAuthOptionsValidator.ValidatedCopy(options, nameof(options));
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _tokenEndpoint = new TokenEndpoint(_options.BaseAddress);
        _basicAuthorization = new AuthenticationHeaderValue(
            "Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes(_options.AccessKeyId + ":" + _options.ApiSecret)));
        _pipeline = pipeline ?? BuildPipeline(_options, _timeProvider, _logger);
        if (!string.IsNullOrWhiteSpace(_options.AccessToken))
        {
            DateTimeOffset expiresAt = JwtExpiry.TryRead(_options.AccessToken!) ?? DateTimeOffset.MaxValue;
            _staticToken = new M3terToken(_options.AccessToken!.Trim(), "Bearer", expiresAt, expiresAt) { IsStatic = true };
        }
    }

    /// <summary>Gets the token endpoint this client posts to.</summary>
    internal Uri TokenEndpoint => _tokenEndpoint;

    /// <inheritdoc />
    public Task<M3terToken> RequestTokenAsync(CancellationToken cancellationToken = default) =>
        _staticToken is null ? RequestFromEndpointAsync(cancellationToken) : StaticToken(_staticToken);

    private Task<M3terToken> StaticToken(M3terToken token)
    {
        if (_timeProvider.GetUtcNow() < token.ExpiresAt)
        {
            return Task.FromResult(token);
        }

        var expired = new M3terAuthException(string.Format(
            CultureInfo.InvariantCulture,
            "The pre-issued m3ter access token (M3ter:AccessToken or M3TER_API_TOKEN) expired at {0:O}: issue a new one, or set AccessKeyId and ApiSecret instead so tokens are fetched and refreshed automatically.",
            token.ExpiresAt)) { IsPermanent = true };
        Log.TokenRequestFailed(_logger, expired.Message);
        return Task.FromException<M3terToken>(expired);
    }

    private async Task<M3terToken> RequestFromEndpointAsync(CancellationToken cancellationToken)
    {
        using Activity? activity = M3terAuthDiagnostics.ActivitySource.StartActivity("m3ter.auth.token_request");
        activity?.SetTag("server.address", _tokenEndpoint.Host);
        long started = Stopwatch.GetTimestamp();
        ResilienceContext context = ResilienceContextPool.Shared.Get(cancellationToken);
        Outcome<TokenAttempt> outcome;
        try
        {
            outcome = await _pipeline.ExecuteOutcomeAsync(
                static async (ctx, state) =>
                {
                    try
                    {
                        return Outcome.FromResult(await state.Client.SendOnceAsync(ctx.CancellationToken, state.CallerToken).ConfigureAwait(false));
                    }
#pragma warning disable CA1031 // Every failure becomes an outcome for the retry strategy to judge.
                    catch (Exception ex)
#pragma warning restore CA1031
                    {
                        return Outcome.FromException<TokenAttempt>(ex);
                    }
                },
                context,
                (Client: this, CallerToken: cancellationToken)).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }

        if (outcome.Result?.Token is M3terToken token)
        {
            activity?.SetTag("m3ter.auth.outcome", "success");
            M3terAuthDiagnostics.RecordTokenRequestDuration(started, null, _tokenEndpoint.Host);
            return token;
        }

        if (cancellationToken.IsCancellationRequested)
        {
            M3terAuthDiagnostics.RecordTokenRequestDuration(started, "cancelled", _tokenEndpoint.Host);
            cancellationToken.ThrowIfCancellationRequested();
        }

        M3terAuthException failure = outcome.Result?.Failure ?? DescribeException(outcome.Exception!);
        string errorType = ErrorType(failure, outcome.Exception);
        activity?.SetStatus(ActivityStatusCode.Error, errorType);
        activity?.SetTag("m3ter.auth.outcome", "failure");
        activity?.SetTag("error.type", errorType);
        M3terAuthDiagnostics.RecordTokenRequestDuration(started, errorType, _tokenEndpoint.Host);
        Log.TokenRequestFailed(_logger, failure.Message);
        throw failure;
    }

    /// <summary>A low-cardinality name for what went wrong (OpenTelemetry's <c>error.type</c>): the HTTP status, or the kind of failure.</summary>
    private static string ErrorType(M3terAuthException failure, Exception? exception) =>
        failure.StatusCode is HttpStatusCode status
            ? status == HttpStatusCode.OK ? "invalid_response" : ((int)status).ToString(CultureInfo.InvariantCulture)
            : exception switch
            {
                TimeoutRejectedException or OperationCanceledException => "timeout",
                HttpRequestException or System.IO.IOException => "network_error",
                null => "unknown",
                _ => exception.GetType().FullName ?? "unknown",
            };

    private static Func<HttpClient> CaptureClient(HttpClient httpClient)
    {
        if (httpClient is null)
        {
            throw new ArgumentNullException(nameof(httpClient));
        }

        return () => httpClient;
    }

    /// <summary>The retries and per-attempt timeout of <paramref name="options"/>' token settings (nothing else of them is read).</summary>
    internal static ResiliencePipeline<TokenAttempt> BuildPipeline(M3terAuthOptions options, TimeProvider timeProvider, ILogger logger)
    {
        var builder = new ResiliencePipelineBuilder<TokenAttempt>();
        if (options.MaxRetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<TokenAttempt>
            {
                MaxRetryAttempts = options.MaxRetryAttempts,
                ShouldHandle = static args => new ValueTask<bool>(IsTransient(args.Outcome, args.Context.CancellationToken)),
                DelayGenerator = args =>
                {
                    TimeSpan delay = args.Outcome.Result?.RetryAfter
                        ?? RetryDelays.Backoff(options.RetryDelay, args.AttemptNumber, Jitter.NextDouble());
                    return new ValueTask<TimeSpan?>(delay);
                },
                OnRetry = args =>
                {
                    Log.TokenRequestRetrying(logger, args.RetryDelay, args.AttemptNumber + 1, DescribeOutcome(args.Outcome));
                    return default;
                },
            });
        }

        builder.AddTimeout(options.TokenRequestTimeout);
        return builder.Build();
    }

    private static bool IsTransient(Outcome<TokenAttempt> outcome, CancellationToken callerToken)
    {
        if (outcome.Result is TokenAttempt attempt)
        {
            return attempt.IsTransient && !(attempt.RetryAfter > RetryDelays.MaxHonouredRetryAfter);
        }

        // Network failures, our own per-attempt timeout and HttpClient.Timeout; never the caller's cancellation.
        return outcome.Exception is HttpRequestException or TimeoutRejectedException or System.IO.IOException
            || (outcome.Exception is OperationCanceledException && !callerToken.IsCancellationRequested);
    }

    private static string DescribeOutcome(Outcome<TokenAttempt> outcome) =>
        outcome.Result?.Failure?.Message ?? outcome.Exception?.GetType().Name + ": " + outcome.Exception?.Message;

    private M3terAuthException DescribeException(Exception exception) => exception switch
    {
        TimeoutRejectedException or OperationCanceledException => new M3terAuthException(
            string.Format(CultureInfo.InvariantCulture, "m3ter's token endpoint {0} did not answer within {1} (TokenRequestTimeout), {2} attempt(s).", _tokenEndpoint, RetryDelays.Describe(_options.TokenRequestTimeout), _options.MaxRetryAttempts + 1),
            null,
            null,
            null,
            exception),
        HttpRequestException or System.IO.IOException => new M3terAuthException(
            string.Format(CultureInfo.InvariantCulture, "m3ter's token endpoint {0} could not be reached ({1} attempt(s)): {2}", _tokenEndpoint, _options.MaxRetryAttempts + 1, exception.Message),
            null,
            null,
            null,
            exception),
        M3terAuthException auth => auth,
        _ => new M3terAuthException(
            string.Format(CultureInfo.InvariantCulture, "Requesting an m3ter token from {0} failed: {1}", _tokenEndpoint, exception.GetType().Name),
            null,
            null,
            null,
            exception),
    };

    private async Task<TokenAttempt> SendOnceAsync(CancellationToken attemptToken, CancellationToken callerToken)
    {
        Log.TokenRequesting(_logger, _tokenEndpoint);
        using var request = new HttpRequestMessage(HttpMethod.Post, _tokenEndpoint);
        request.Headers.Authorization = _basicAuthorization;
        request.Headers.Accept.Add(AcceptJson);
        request.Content = new ByteArrayContent(GrantBody);
        request.Content.Headers.ContentType = JsonMediaType;

        // The token's lifetime counts from when the request was sent, so network delay never makes us over-trust it.
        DateTimeOffset sentAt = _timeProvider.GetUtcNow();

        // Every attempt is counted once, however it ends: answered, dropped, or abandoned by our timeout.
        string outcome = "network_error";
        try
        {
            using HttpResponseMessage response = await _httpClient().SendAsync(request, HttpCompletionOption.ResponseHeadersRead, attemptToken).ConfigureAwait(false);
            byte[] body = await ReadBodyAsync(response.Content, attemptToken).ConfigureAwait(false);
            TokenAttempt attempt = response.IsSuccessStatusCode
                ? ParseToken(response, body, sentAt)
                : ParseError(response, body);
            outcome = attempt.Token is not null ? "success" : ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
            return attempt;
        }
        catch (OperationCanceledException)
        {
            outcome = callerToken.IsCancellationRequested ? "cancelled" : "timeout";
            throw;
        }
        finally
        {
            M3terAuthDiagnostics.RecordTokenRequest(outcome, _tokenEndpoint.Host);
        }
    }

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
