using System;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Timeout;

namespace M3ter.Auth;

/// <summary>
/// Requests access tokens from m3ter's token endpoint (<c>{BaseAddress}oauth/token</c>) with the client credentials
/// grant and HTTP Basic authentication, retrying transient failures with jittered exponential back-off.
/// </summary>
/// <remarks>Every call sends a request: wrap it in a <see cref="TokenProvider"/> to cache tokens.</remarks>
public sealed partial class TokenClient : ITokenClient
{
    /// <summary>The name of the <see cref="HttpClient"/> that <c>AddM3terAuth()</c> registers for token requests.</summary>
    public const string HttpClientName = "M3ter.Auth.TokenClient";

    /// <summary>m3ter documents 5-hour tokens; a longer lifetime than a day is not believed.</summary>
    internal static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(1);

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
            TokenAttempt attempt = !ReferenceEquals(request.RequestUri, _tokenEndpoint)
                ? Redirected(request.RequestUri, response.StatusCode)
                : response.IsSuccessStatusCode
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
}
