using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing.Internal;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace M3ter.Auth.Testing;

/// <summary>
/// An m3ter emulator: a real HTTP server on loopback that imitates m3ter's token endpoint, config API and ingest API
/// closely enough that what passes against it passes against m3ter, for M3ter.Auth, its samples and your own tests.
/// </summary>
/// <remarks>
/// <para>Like m3ter it has two hosts (<see cref="BaseAddress"/> for the token endpoint and the config API,
/// <see cref="IngestBaseAddress"/> for measurements, each refusing the other's calls), checks the Basic credentials and
/// the grant, issues random opaque tokens, answers 403 <c>{"message": ...}</c> for a missing, unknown, revoked or
/// expired token, enforces 50 requests a second per API, validates measurements, and refuses oversized payloads. It
/// records requests and accepted measurements (bounded), and injects faults into the token endpoint and both APIs.
/// Each rule cites the fact it follows from <c>shared/M3TER.md</c>.</para>
/// <code>
/// await using var m3ter = await M3terEmulator.StartAsync();
/// services.AddM3terAuth(m3ter.Configure);
/// </code>
/// </remarks>
public sealed partial class M3terEmulator : IAsyncDisposable
{
    /// <summary>The largest ingest payload m3ter accepts, in bytes ("payload under 512,000 bytes"; M3TER.md, limits).</summary>
    public const int MaxIngestPayloadBytes = 512_000;

    /// <summary>The most measurements one ingest request may carry (M3TER.md, limits: 1-1000 measurements per request).</summary>
    public const int MaxMeasurementsPerRequest = 1000;

    /// <summary>The config API's resources the emulator serves (GET lists an empty page, POST creates): anything else is 404.</summary>
    public static IReadOnlyCollection<string> ConfigResources { get; } = new[]
    {
        "accountplans", "accounts", "aggregations", "balances", "bills", "commitments", "compoundAggregations", "contracts",
        "counterPricings", "counters", "currencies", "customFields", "dataExports", "externalMappings", "integrationConfigs",
        "meters", "notifications", "organizationConfig", "planGroups", "plans", "planTemplates", "pricings", "products", "users",
    };

    /// <summary>The largest config API body the emulator reads (m3ter documents none; far above any real one).</summary>
    private const int MaxConfigBodyBytes = 1024 * 1024;

    private readonly WebApplication _app;
    private readonly M3terEmulatorOptions _options;
    private readonly int _apiPort;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, (string Secret, string OrganizationId)> _credentials = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IssuedToken> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _revoked = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<M3terFault> _tokenFaults = new();
    private readonly ConcurrentDictionary<string, ConcurrentQueue<M3terFault>> _keyTokenFaults = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<M3terFault> _configFaults = new();
    private readonly ConcurrentQueue<M3terFault> _ingestFaults = new();
    private readonly ConcurrentDictionary<string, bool> _deniedPaths = new(StringComparer.Ordinal);
    private readonly BoundedLog<M3terRecordedRequest> _requests;
    private readonly BoundedLog<M3terMeasurement> _measurements;
    private readonly RateLimiter _apiRate = new();
    private readonly RateLimiter _ingestRate = new();
    private Random _random;
    private readonly object _randomGate = new();
    private TaskCompletionSource<bool> _requestArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _tokenRequests;
    private int _tokensIssued;
    private int _apiRequests;
    private int _apiRequestsWithoutToken;
    private int _apiRequestsRefused;
    private long _tokenLifetimeTicks;
    private double _transientTokenFailureRate;
    private volatile M3terFault? _persistentTokenFault;
    private int _disposed;

    private M3terEmulator(WebApplication app, M3terEmulatorOptions options, Uri baseAddress, Uri ingestBaseAddress)
    {
        _app = app;
        _options = options;
        BaseAddress = baseAddress;
        IngestBaseAddress = ingestBaseAddress;
        _apiPort = baseAddress.Port;
        _credentials[options.AccessKeyId] = (options.ApiSecret, options.OrganizationId);
        _tokenLifetimeTicks = options.TokenLifetime.Ticks;
        _requests = new BoundedLog<M3terRecordedRequest>(options.MaxRecordedRequests);
        _measurements = new BoundedLog<M3terMeasurement>(options.MaxRecordedMeasurements);
        _random = options.RandomSeed is int seed ? new Random(seed) : new Random();
    }

    /// <summary>Gets the API host's address, for example <c>http://127.0.0.1:54321/</c>: the token endpoint and the config API.</summary>
    public Uri BaseAddress { get; }

    /// <summary>Gets the ingest host's address, a different port on loopback: the ingest API (<c>POST /organizations/{orgId}/measurements</c>).</summary>
    public Uri IngestBaseAddress { get; }

    /// <summary>Gets the access key id the emulator accepts.</summary>
    public string AccessKeyId => _options.AccessKeyId;

    /// <summary>Gets the API secret the emulator accepts.</summary>
    public string ApiSecret => _options.ApiSecret;

    /// <summary>Gets the organization id the emulator serves.</summary>
    public string OrganizationId => _options.OrganizationId;

    /// <summary>Gets the emulator's settings as <c>M3ter:*</c> configuration values, for <c>AddInMemoryCollection</c> or <c>WebApplicationFactory.UseSetting</c>.</summary>
    public IReadOnlyDictionary<string, string?> ConfigurationValues => new Dictionary<string, string?>(StringComparer.Ordinal)
    {
        ["M3ter:BaseAddress"] = BaseAddress.ToString(),
        ["M3ter:IngestBaseAddress"] = IngestBaseAddress.ToString(),
        ["M3ter:AccessKeyId"] = AccessKeyId,
        ["M3ter:ApiSecret"] = ApiSecret,
        ["M3ter:OrganizationId"] = OrganizationId,
    };

    /// <summary>Gets the emulator's settings as the environment variables the official SDKs read (<c>M3TER_*</c>), plus <c>M3TER_INGEST_URL</c>, which M3ter.Auth reads for the ingest host.</summary>
    public IReadOnlyDictionary<string, string> EnvironmentVariables => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["M3TER_BASE_URL"] = BaseAddress.ToString(),
        ["M3TER_INGEST_URL"] = IngestBaseAddress.ToString(),
        ["M3TER_API_KEY"] = AccessKeyId,
        ["M3TER_API_SECRET"] = ApiSecret,
        ["M3TER_ORG_ID"] = OrganizationId,
    };

    /// <summary>Gets or sets the lifetime of tokens issued from now on (rounded up to whole seconds, as advertised in <c>expires_in</c>).</summary>
    public TimeSpan TokenLifetime
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _tokenLifetimeTicks));
        set => Interlocked.Exchange(ref _tokenLifetimeTicks, value.Ticks);
    }

    /// <summary>Gets or sets a fault injected into every token request until it is set back to null (after any queued ones).</summary>
    public M3terFault? PersistentTokenFault
    {
        get => _persistentTokenFault;
        set => _persistentTokenFault = value;
    }

    /// <summary>Gets or sets the fraction (0 to 1) of token requests that fail at random with 503, to model a flaky endpoint.</summary>
    /// <value>Zero by default. Repeatable with <see cref="M3terEmulatorOptions.RandomSeed"/>.</value>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a number from 0 to 1.</exception>
    public double TransientTokenFailureRate
    {
        get => Volatile.Read(ref _transientTokenFailureRate);
        set
        {
            if (double.IsNaN(value) || value < 0 || value > 1)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "TransientTokenFailureRate must be a number from 0 to 1.");
            }

            Volatile.Write(ref _transientTokenFailureRate, value);
        }
    }

    /// <summary>Gets or sets the status the emulator answers for a missing, unknown, revoked or expired token.</summary>
    /// <value>403 Forbidden, as m3ter does (M3TER.md: "an expired or invalid token is answered with 403"); set 401 to exercise clients that expect it (it then sends <c>WWW-Authenticate: Bearer</c>).</value>
    public HttpStatusCode InvalidTokenStatusCode { get; set; } = HttpStatusCode.Forbidden;

    /// <summary>Gets how many requests reached the token endpoint, faulted and rate-limited ones included.</summary>
    public int TokenRequestCount => Volatile.Read(ref _tokenRequests);

    /// <summary>Gets how many requests reached the config and ingest APIs, faulted and rate-limited ones included.</summary>
    public int ApiRequestCount => Volatile.Read(ref _apiRequests);

    /// <summary>Gets how many config and ingest API requests arrived without a bearer token, whatever they were answered (a fault or a 429 included).</summary>
    public int ApiRequestsWithoutTokenCount => Volatile.Read(ref _apiRequestsWithoutToken);

    /// <summary>Gets how many config and ingest API requests were refused because of their token (see <see cref="InvalidTokenStatusCode"/>).</summary>
    public int ApiRequestsRefusedCount => Volatile.Read(ref _apiRequestsRefused);

    /// <summary>Gets how many tokens the token endpoint issued (pre-issued tokens are not counted).</summary>
    public int TokensIssued => Volatile.Read(ref _tokensIssued);

    /// <summary>Gets every token the token endpoint issued and that has not been pruned (expired for over a minute), in no particular order; pre-issued tokens are not included.</summary>
    public IReadOnlyCollection<string> IssuedTokens => _tokens.Where(t => !t.Value.PreIssued).Select(t => t.Key).ToArray();

    /// <summary>Gets a snapshot of the latest requests received (up to <see cref="M3terEmulatorOptions.MaxRecordedRequests"/>), in the order received.</summary>
    public IReadOnlyList<M3terRecordedRequest> Requests => _requests.Snapshot();

    /// <summary>Gets a snapshot of the measurements the ingest API accepted (up to <see cref="M3terEmulatorOptions.MaxRecordedMeasurements"/>), in the order received.</summary>
    public IReadOnlyList<M3terMeasurement> Measurements => _measurements.Snapshot();

    /// <summary>Starts an emulator on two free loopback ports (the API host and the ingest host).</summary>
    /// <param name="options">Its settings; random credentials and 5-hour tokens by default.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running emulator; dispose it to stop it.</returns>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public static async Task<M3terEmulator> StartAsync(M3terEmulatorOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new M3terEmulatorOptions();
        if (options.TokenLifetime <= TimeSpan.Zero || options.MaxRecordedRequests < 0 || options.MaxRecordedMeasurements < 0 || options.RateLimitPerSecond is <= 0)
        {
            throw new ArgumentException("TokenLifetime and RateLimitPerSecond (when set) must be positive, and the recording limits not negative.", nameof(options));
        }

        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddSingleton<IHostLifetime, NoConsoleLifetime>(); // never take over the process's SIGTERM/Ctrl+C
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, options.ApiPort);
            kestrel.Listen(IPAddress.Loopback, options.IngestPort);

            // The emulator reads bodies itself, up to the payload limits, so an oversized one gets m3ter's answer
            // (and is recorded), never Kestrel's bare 413.
            kestrel.Limits.MaxRequestBodySize = null;
        });
        WebApplication app = builder.Build();

        // A request can arrive as soon as Kestrel listens, before the emulator exists (a client retrying against the
        // port, say): it waits for it rather than failing.
        var ready = new TaskCompletionSource<M3terEmulator>(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Run(async context => await (await ready.Task.ConfigureAwait(false)).HandleAsync(context).ConfigureAwait(false));
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            Uri[] addresses = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses
                .Select(a => new Uri(a.TrimEnd('/') + "/")).ToArray();
            var emulator = new M3terEmulator(app, options, addresses[0], addresses[1]);
            ready.SetResult(emulator);
            return emulator;
        }
        catch
        {
            ready.TrySetCanceled(CancellationToken.None);
            await app.DisposeAsync().ConfigureAwait(false); // a port in use, a cancelled start: nothing left listening
            throw;
        }
    }

    /// <summary>Points options at this emulator: both hosts, credentials and organization. Pass it to <c>AddM3terAuth</c>.</summary>
    /// <param name="options">The options to set.</param>
    public void Configure(M3terAuthOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.BaseAddress = BaseAddress;
        options.IngestBaseAddress = IngestBaseAddress;
        options.AccessKeyId = AccessKeyId;
        options.ApiSecret = ApiSecret;
        options.OrganizationId = OrganizationId;
    }

    /// <summary>Accepts another access key (as after generating a new key in m3ter).</summary>
    /// <param name="accessKeyId">The key id.</param>
    /// <param name="apiSecret">Its secret.</param>
    public void AddCredentials(string accessKeyId, string apiSecret) => _credentials[accessKeyId] = (apiSecret, OrganizationId);

    /// <summary>
    /// Accepts an access key of another organization: its tokens are accepted only under
    /// <c>/organizations/{organizationId}</c> (403 elsewhere, as m3ter answers a token of another organization), so an
    /// application acting for several organizations can be checked for sending one's token with another's request.
    /// </summary>
    /// <param name="accessKeyId">The key id.</param>
    /// <param name="apiSecret">Its secret.</param>
    /// <param name="organizationId">The organization the key belongs to.</param>
    public void AddCredentials(string accessKeyId, string apiSecret, string organizationId) => _credentials[accessKeyId] = (apiSecret, organizationId);

    /// <summary>Stops accepting an access key (as after marking it inactive in m3ter). Tokens already issued stay valid.</summary>
    /// <param name="accessKeyId">The key id.</param>
    public void RemoveCredentials(string accessKeyId) => _credentials.TryRemove(accessKeyId, out _);

    /// <summary>Queues a fault for the next token request, or the next one made with <paramref name="accessKeyId"/>; queued faults are used once each, in order, a key's own before the general ones.</summary>
    /// <param name="fault">The fault.</param>
    /// <param name="accessKeyId">Only requests with this access key get it; any request when null.</param>
    public void EnqueueTokenFault(M3terFault fault, string? accessKeyId = null)
    {
        ArgumentNullException.ThrowIfNull(fault);
        (accessKeyId is null ? _tokenFaults : _keyTokenFaults.GetOrAdd(accessKeyId, _ => new ConcurrentQueue<M3terFault>())).Enqueue(fault);
    }

    /// <summary>Queues a fault for the next request to the config API (<see cref="M3terRequestKind.Config"/>) or the ingest API (<see cref="M3terRequestKind.Ingest"/>), as a gateway in front of it would inject it: before the token is checked.</summary>
    /// <param name="api">Which API.</param>
    /// <param name="fault">The fault.</param>
    /// <exception cref="ArgumentException"><paramref name="api"/> is not Config or Ingest.</exception>
    public void EnqueueApiFault(M3terRequestKind api, M3terFault fault)
    {
        ArgumentNullException.ThrowIfNull(fault);
        (api switch
        {
            M3terRequestKind.Config => _configFaults,
            M3terRequestKind.Ingest => _ingestFaults,
            _ => throw new ArgumentException("Faults can be queued for the Config and Ingest APIs; use EnqueueTokenFault for the token endpoint.", nameof(api)),
        }).Enqueue(fault);
    }

    /// <summary>Revokes a token: requests that carry it get <see cref="InvalidTokenStatusCode"/> from now on.</summary>
    /// <param name="accessToken">The token.</param>
    public void RevokeToken(string accessToken) => _revoked[accessToken] = true;

    /// <summary>Revokes every token issued more than <paramref name="age"/> ago, as a key deactivation or a token revocation would.</summary>
    /// <param name="age">How old a token must be to be revoked.</param>
    /// <returns>How many tokens were newly revoked.</returns>
    public int RevokeTokensOlderThan(TimeSpan age)
    {
        DateTimeOffset cutoff = _options.TimeProvider.GetUtcNow() - age;
        return Revoke(t => t.IssuedAt <= cutoff);
    }

    /// <summary>Revokes every token issued to one access key, leaving other keys' tokens valid.</summary>
    /// <param name="accessKeyId">The key id.</param>
    /// <returns>How many tokens were newly revoked.</returns>
    public int RevokeTokensOf(string accessKeyId) => Revoke(t => string.Equals(t.AccessKeyId, accessKeyId, StringComparison.Ordinal));

    /// <summary>Revokes every token issued so far.</summary>
    public void RevokeAllTokens() => Revoke(_ => true);

    /// <summary>
    /// Creates a pre-issued token the emulator accepts, as for <c>M3TER_API_TOKEN</c>: a JWT whose <c>exp</c> claim is
    /// <paramref name="lifetime"/> from now (unsigned: the emulator checks it by value, as an opaque token).
    /// </summary>
    /// <param name="lifetime">How long the token is valid.</param>
    /// <returns>The token.</returns>
    public string CreatePreIssuedToken(TimeSpan lifetime)
    {
        DateTimeOffset now = _options.TimeProvider.GetUtcNow();
        DateTimeOffset expiresAt = now + lifetime;
        static string Encode(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        string token = Encode("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + Encode(string.Create(CultureInfo.InvariantCulture, $"{{\"sub\":\"{AccessKeyId}\",\"exp\":{expiresAt.ToUnixTimeSeconds()}}}")) + "." + NewToken();
        _tokens[token] = new IssuedToken(now, expiresAt, AccessKeyId, PreIssued: true);
        return token;
    }

    /// <summary>
    /// Makes every request whose path (after <c>/organizations/{orgId}</c>) is <paramref name="path"/> or below it get
    /// 403, whatever its token: a permission m3ter denies. Paths match whole segments: <c>/plan</c> does not deny
    /// <c>/plans</c>.
    /// </summary>
    /// <param name="path">For example <c>/products</c>.</param>
    public void DenyPermission(string path) => _deniedPaths[NormalizePath(path)] = true;

    /// <summary>Undoes <see cref="DenyPermission"/> for <paramref name="path"/>.</summary>
    /// <param name="path">The path given to <see cref="DenyPermission"/>.</param>
    public void AllowPermission(string path) => _deniedPaths.TryRemove(NormalizePath(path), out _);

    /// <summary>Forgets the recorded requests and measurements, and sets the request counters back to zero.</summary>
    public void ClearRequests()
    {
        _requests.Clear();
        _measurements.Clear();
        Volatile.Write(ref _tokenRequests, 0);
        Volatile.Write(ref _tokensIssued, 0);
        Volatile.Write(ref _apiRequests, 0);
        Volatile.Write(ref _apiRequestsWithoutToken, 0);
        Volatile.Write(ref _apiRequestsRefused, 0);
    }

    /// <summary>
    /// Returns the emulator to how it started, for a fixture shared across tests: clears requests, measurements and
    /// counters, queued and persistent faults, the transient failure rate, denied paths, revocations and the rate
    /// limits' counts; restores the token lifetime, the invalid-token status and the credentials it started with
    /// (keys added are removed, the initial key restored if it was removed); and re-seeds the random failures with
    /// <see cref="M3terEmulatorOptions.RandomSeed"/>. Tokens already issued stay valid.
    /// </summary>
    public void Reset()
    {
        ClearRequests();
        _credentials.Clear();
        _credentials[_options.AccessKeyId] = (_options.ApiSecret, _options.OrganizationId);
        TokenLifetime = _options.TokenLifetime;
        lock (_randomGate)
        {
            _random = _options.RandomSeed is int seed ? new Random(seed) : new Random();
        }

        _tokenFaults.Clear();
        _keyTokenFaults.Clear();
        _configFaults.Clear();
        _ingestFaults.Clear();
        PersistentTokenFault = null;
        TransientTokenFailureRate = 0;
        InvalidTokenStatusCode = HttpStatusCode.Forbidden;
        _deniedPaths.Clear();
        _revoked.Clear();
        _apiRate.Reset();
        _ingestRate.Reset();
    }

    /// <summary>
    /// Waits until <paramref name="count"/> recorded requests match <paramref name="predicate"/> and the emulator has decided
    /// their answers (see <see cref="M3terRecordedRequest.StatusCode"/>); the client may not have read them yet, so await
    /// your own call before checking what it received.
    /// </summary>
    /// <param name="predicate">Which requests count.</param>
    /// <param name="count">How many to wait for.</param>
    /// <param name="timeout">How long to wait at most.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The matching requests, in the order received.</returns>
    /// <exception cref="TimeoutException">Fewer arrived within <paramref name="timeout"/>; the message says how many.</exception>
    /// <exception cref="InvalidOperationException"><see cref="M3terEmulatorOptions.RecordRequests"/> is off, so no request could ever match.</exception>
    public async Task<IReadOnlyList<M3terRecordedRequest>> WaitForRequestsAsync(Func<M3terRecordedRequest, bool> predicate, int count, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        if (!_options.RecordRequests || _options.MaxRecordedRequests == 0)
        {
            throw new InvalidOperationException("WaitForRequestsAsync needs recorded requests, but this emulator was started with RecordRequests = false or MaxRecordedRequests = 0.");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (true)
        {
            Task arrived = Volatile.Read(ref _requestArrived).Task;
            M3terRecordedRequest[] matching = _requests.Snapshot().Where(r => r.StatusCode is not null && predicate(r)).ToArray();
            if (matching.Length >= count)
            {
                return matching;
            }

            try
            {
                await arrived.WaitAsync(TimeSpan.FromMilliseconds(50), deadline.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Look again: a request may have been answered without a new one arriving.
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"Only {matching.Length} of {count} matching requests arrived within {timeout}."));
            }
        }
    }

    /// <summary>Stops the emulator. Requests still in flight (a <see cref="M3terFault.Slow"/> fault, say) are cut short; it never waits more than a couple of seconds.</summary>
    /// <returns>A task that completes when the emulator has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        using var stopBy = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await _app.StopAsync(stopBy.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Connections that would not close in time are dropped with the app.
        }

        await _app.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"m3ter emulator at {BaseAddress} (ingest {IngestBaseAddress}; {TokensIssued} tokens issued)");

    private static string NormalizePath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return "/" + path.Trim('/');
    }

    private int Revoke(Func<IssuedToken, bool> which)
    {
        int revoked = 0;
        foreach (var (token, issued) in _tokens)
        {
            if (which(issued) && _revoked.TryAdd(token, true))
            {
                revoked++;
            }
        }

        return revoked;
    }

    private static async Task<(byte[] Body, bool TooLarge)> ReadBodyAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            int room = limit - (int)buffer.Length;
            buffer.Write(chunk, 0, Math.Min(read, room));
            if (read > room)
            {
                return (buffer.ToArray(), true);
            }
        }

        return (buffer.ToArray(), false);
    }

    private static async Task WriteAsync(HttpContext context, M3terRecordedRequest record, int status, byte[]? body, string contentType = "application/json")
    {
        // Recorded before the first byte goes out: a client can have the whole response before this write returns, and a
        // test that reads Requests as soon as it has the response must find the status there.
        record.Answered(status);
        context.Response.StatusCode = status;
        if (body is not null)
        {
            context.Response.ContentType = contentType;
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static Task MessageAsync(HttpContext context, M3terRecordedRequest record, int status, string message) =>
        WriteAsync(context, record, status, EmulatorJson.Message(message));

    private async Task HandleAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        bool ingestHost = context.Connection.LocalPort != _apiPort;
        string path = request.Path.Value ?? "/";
        bool isOrganizationPath = path.StartsWith("/organizations/", StringComparison.Ordinal);
        bool isMeasurements = MeasurementsPath().IsMatch(path); // exactly /organizations/{orgId}/measurements

        // M3TER.md, "Using a token": the config API lives on api.m3ter.com, the ingest API on ingest.m3ter.com. Each
        // host refuses the other's calls, so a client that sends measurements to the API host fails here as in production.
        M3terRequestKind kind = ingestHost
            ? isMeasurements ? M3terRequestKind.Ingest : M3terRequestKind.Other
            : path == "/oauth/token" ? M3terRequestKind.Token
            : isOrganizationPath && !isMeasurements ? M3terRequestKind.Config
            : M3terRequestKind.Other;

        using var aborted = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
        (byte[] body, bool tooLarge) = await ReadBodyAsync(request, (kind == M3terRequestKind.Ingest ? MaxIngestPayloadBytes : MaxConfigBodyBytes) + 1, aborted.Token).ConfigureAwait(false);
        var headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var record = new M3terRecordedRequest(kind, ingestHost ? "ingest" : "api", request.Method, path + request.QueryString.Value, headers, body, _options.TimeProvider.GetUtcNow());
        if (_options.RecordRequests)
        {
            _requests.Add(record);
        }

        try
        {
            await AnswerAsync(context, record, kind, path, tooLarge, aborted.Token).ConfigureAwait(false);
        }
        finally
        {
            if (record.StatusCode is null)
            {
                record.Answered(context.Response.HasStarted ? context.Response.StatusCode : 0);
            }

            Interlocked.Exchange(ref _requestArrived, new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult(true);
        }
    }

    private async Task AnswerAsync(HttpContext context, M3terRecordedRequest record, M3terRequestKind kind, string path, bool tooLarge, CancellationToken aborted)
    {
        if (kind == M3terRequestKind.Other)
        {
            string hint = record.Host == "ingest"
                ? "the ingest host serves POST /organizations/{orgId}/measurements only; config calls and tokens go to the API host"
                : path.EndsWith("/measurements", StringComparison.Ordinal) ? "measurements go to the ingest host (ingest.m3ter.com), not the API host" : "no such endpoint";
            await MessageAsync(context, record, 404, "Not found: " + hint).ConfigureAwait(false);
            return;
        }

        // Counted before anything can refuse them (the rate limit, a fault), so the counters see every request.
        if (kind == M3terRequestKind.Token)
        {
            Interlocked.Increment(ref _tokenRequests);
        }
        else
        {
            Interlocked.Increment(ref _apiRequests);
            if (record.BearerToken is null)
            {
                Interlocked.Increment(ref _apiRequestsWithoutToken);
            }
        }

        // M3TER.md, "Limits": 50 requests/s per organization on each API, 429 when exceeded; token requests count too.
        if (_options.RateLimitPerSecond is int limit
            && !(kind == M3terRequestKind.Ingest ? _ingestRate : _apiRate).TryAcquire(_options.TimeProvider.GetUtcNow(), limit, out TimeSpan retryAfter))
        {
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            await MessageAsync(context, record, 429, "Too Many Requests: the organization's rate limit is " + limit.ToString(CultureInfo.InvariantCulture) + " requests per second").ConfigureAwait(false);
            return;
        }

        if (kind == M3terRequestKind.Token)
        {
            await TokenAsync(context, record, aborted).ConfigureAwait(false);
            return;
        }

        if ((kind == M3terRequestKind.Ingest ? _ingestFaults : _configFaults).TryDequeue(out M3terFault? fault)
            && await ApplyFaultAsync(context, record, fault, aborted).ConfigureAwait(false))
        {
            return;
        }

        if (!Authorized(record, out string? problem, out string organizationId))
        {
            Interlocked.Increment(ref _apiRequestsRefused);

            if (InvalidTokenStatusCode == HttpStatusCode.Unauthorized)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
            }

            string reason = InvalidTokenStatusCode == HttpStatusCode.Unauthorized ? "Unauthorized" : "Forbidden";
            await MessageAsync(context, record, (int)InvalidTokenStatusCode, reason + ": " + problem).ConfigureAwait(false);
            return;
        }

        // A token is good for its own organization only.
        string orgPrefix = "/organizations/" + organizationId;
        if (!path.StartsWith(orgPrefix, StringComparison.Ordinal) || (path.Length > orgPrefix.Length && path[orgPrefix.Length] != '/'))
        {
            await MessageAsync(context, record, 403, "Forbidden: the organization does not exist or the service user has no access to it").ConfigureAwait(false);
            return;
        }

        string rest = path[orgPrefix.Length..];
        if (_deniedPaths.Keys.Any(denied => rest == denied || rest.StartsWith(denied + "/", StringComparison.Ordinal)))
        {
            await MessageAsync(context, record, 403, "Forbidden: the service user lacks the permission for this resource").ConfigureAwait(false);
            return;
        }

        if (kind == M3terRequestKind.Ingest)
        {
            await IngestAsync(context, record, tooLarge).ConfigureAwait(false);
            return;
        }

        await ConfigAsync(context, record, rest, organizationId, tooLarge).ConfigureAwait(false);
    }

    private static async Task ConfigAsync(HttpContext context, M3terRecordedRequest record, string rest, string organizationId, bool tooLarge)
    {
        if (tooLarge)
        {
            await MessageAsync(context, record, 413, "Request payload is too large").ConfigureAwait(false);
            return;
        }

        string method = context.Request.Method;
        string[] segments = rest.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length == 0)
        {
            // The organization itself.
            await WriteAsync(context, record, 200, EmulatorJson.Write(w =>
            {
                w.WriteString("id", organizationId);
                w.WriteString("organizationName", "m3ter emulator");
            })).ConfigureAwait(false);
            return;
        }

        if (!ConfigResources.Contains(segments[0]))
        {
            await MessageAsync(context, record, 404, "Not found: /" + segments[0] + " is not a config API resource").ConfigureAwait(false);
            return;
        }

        if (HttpMethods.IsGet(method) && segments.Length == 1)
        {
            await WriteAsync(context, record, 200, EmulatorJson.Write(w =>
            {
                w.WriteStartArray("data");
                w.WriteEndArray();
                w.WriteNull("nextToken");
            })).ConfigureAwait(false);
        }
        else if (HttpMethods.IsGet(method) || HttpMethods.IsDelete(method))
        {
            // The emulator holds no entities: any single one is unknown.
            await MessageAsync(context, record, 404, "Not found: no " + segments[0] + " with id " + segments[^1]).ConfigureAwait(false);
        }
        else if (HttpMethods.IsPost(method) || HttpMethods.IsPut(method))
        {
            await WriteAsync(context, record, 200, EmulatorJson.Write(w =>
            {
                w.WriteString("id", segments.Length > 1 ? segments[1] : Guid.NewGuid().ToString());
                w.WriteNumber("version", 1);
            })).ConfigureAwait(false);
        }
        else
        {
            context.Response.Headers.Allow = "GET, POST, PUT, DELETE";
            await MessageAsync(context, record, 405, "Method not allowed").ConfigureAwait(false);
        }
    }

    private async Task IngestAsync(HttpContext context, M3terRecordedRequest record, bool tooLarge)
    {
        // M3TER.md: ingest payloads must be under 512,000 bytes, and m3ter answers an oversized one with 403.
        if (tooLarge || record.Body.Length >= MaxIngestPayloadBytes)
        {
            await MessageAsync(context, record, 403, "Request payload is larger than 512000 bytes").ConfigureAwait(false);
            return;
        }

        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.Headers.Allow = "POST";
            await MessageAsync(context, record, 405, "Method not allowed: measurements are submitted with POST").ConfigureAwait(false);
            return;
        }

        List<M3terMeasurement>? accepted = null;
        string? problem;
        try
        {
            using JsonDocument document = JsonDocument.Parse(record.Body);
            problem = Validate(document.RootElement, record.ReceivedAt, out accepted);
        }
        catch (JsonException)
        {
            problem = "The body is not valid JSON";
        }

        if (problem is not null)
        {
            await MessageAsync(context, record, 400, problem).ConfigureAwait(false);
            return;
        }

        if (_options.RecordRequests)
        {
            accepted!.ForEach(_measurements.Add);
        }

        await WriteAsync(context, record, 200, EmulatorJson.Write(w =>
        {
            w.WriteString("result", "accepted");
            w.WriteNumber("count", accepted!.Count);
        })).ConfigureAwait(false);
    }

    /// <summary>m3ter's measurement rules (M3TER.md, limits: 1-1000 per request; required uid, meter, account and ts): the first problem, or null.</summary>
    private static string? Validate(JsonElement root, DateTimeOffset receivedAt, out List<M3terMeasurement> accepted)
    {
        accepted = new List<M3terMeasurement>();
        if (root.ValueKind != JsonValueKind.Object)
        {
            return "The body must be a JSON object {\"measurements\": [...]}, but it is " + Describe(root.ValueKind);
        }

        if (!root.TryGetProperty("measurements", out JsonElement measurements) || measurements.ValueKind != JsonValueKind.Array)
        {
            return "The body must have a \"measurements\" array";
        }

        int count = measurements.GetArrayLength();
        if (count is < 1 or > MaxMeasurementsPerRequest)
        {
            return string.Create(CultureInfo.InvariantCulture, $"A request must carry 1 to {MaxMeasurementsPerRequest} measurements, but it carries {count}");
        }

        int index = 0;
        foreach (JsonElement measurement in measurements.EnumerateArray())
        {
            string at = string.Create(CultureInfo.InvariantCulture, $"measurements[{index++}]");
            if (measurement.ValueKind != JsonValueKind.Object)
            {
                return at + " must be an object";
            }

            string uid = string.Empty, meter = string.Empty, account = string.Empty, ts = string.Empty;
            string? problem = RequiredString(measurement, at, "uid", ref uid)
                ?? RequiredString(measurement, at, "meter", ref meter)
                ?? RequiredString(measurement, at, "account", ref account)
                ?? RequiredString(measurement, at, "ts", ref ts);
            if (problem is not null)
            {
                return problem;
            }

            if (!IsoTimestamp().IsMatch(ts) || !DateTimeOffset.TryParse(ts, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset timestamp))
            {
                return $"{at}.ts must be an ISO 8601 date and time such as 2026-11-28T12:00:00Z, but it is \"{ts}\"";
            }

            foreach (string numbers in new[] { "measure", "cost", "income", "other" })
            {
                if (measurement.TryGetProperty(numbers, out JsonElement values)
                    && (values.ValueKind != JsonValueKind.Object || values.EnumerateObject().Any(v => v.Value.ValueKind != JsonValueKind.Number)))
                {
                    return $"{at}.{numbers} must be an object of numbers";
                }
            }

            foreach (string texts in new[] { "what", "where", "who" })
            {
                if (measurement.TryGetProperty(texts, out JsonElement values)
                    && (values.ValueKind != JsonValueKind.Object || values.EnumerateObject().Any(v => v.Value.ValueKind != JsonValueKind.String)))
                {
                    return $"{at}.{texts} must be an object of strings";
                }
            }

            accepted.Add(new M3terMeasurement(uid, meter, account, timestamp, measurement.GetRawText(), receivedAt));
        }

        return null;
    }

    private static string? RequiredString(JsonElement measurement, string at, string name, ref string value)
    {
        if (!measurement.TryGetProperty(name, out JsonElement element))
        {
            return $"{at}.{name} is required";
        }

        if (element.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(element.GetString()))
        {
            return $"{at}.{name} must be a non-empty string, but it is {Describe(element.ValueKind)}";
        }

        value = element.GetString()!;
        return null;
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        JsonValueKind.Object => "an object",
        _ => "nothing",
    };

    private bool Authorized(M3terRecordedRequest record, out string? problem, out string organizationId)
    {
        organizationId = OrganizationId;
        string? token = record.BearerToken;
        if (token is null)
        {
            problem = "missing bearer token";
        }
        else if (!_tokens.TryGetValue(token, out IssuedToken? issued))
        {
            problem = "invalid token";
        }
        else if (_revoked.ContainsKey(token))
        {
            problem = "token has been revoked";
        }
        else if (_options.TimeProvider.GetUtcNow() >= issued.ExpiresAt)
        {
            problem = "token has expired";
        }
        else
        {
            problem = null;
            organizationId = issued.OrganizationId ?? OrganizationId;
        }

        return problem is null;
    }

    /// <summary>Applies a fault; true when it answered (or dropped) the request, false when the normal answer follows (a delay).</summary>
    private async Task<bool> ApplyFaultAsync(HttpContext context, M3terRecordedRequest record, M3terFault fault, CancellationToken aborted)
    {
        switch (fault.Kind)
        {
            case M3terFaultKind.Delay:
                try
                {
                    // On the emulator's clock, so a FakeTimeProvider moves it; cut short when the client or the emulator stops.
                    await Task.Delay(fault.Delay, _options.TimeProvider, aborted).ConfigureAwait(false);
                    return false;
                }
                catch (OperationCanceledException)
                {
                    record.Answered(0); // before the client can see the connection drop (see WriteAsync)
                    context.Abort();
                    return true;
                }

            case M3terFaultKind.Reset:
                record.Answered(0);
                context.Abort();
                return true;
            case M3terFaultKind.ResetMidResponse:
                record.Answered(0);
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/json";
                context.Response.ContentLength = 200;
                await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(fault.Body!), aborted).ConfigureAwait(false);
                await context.Response.Body.FlushAsync(aborted).ConfigureAwait(false);
                context.Abort();
                return true;
            default:
                if (fault.RetryAfter is not null)
                {
                    context.Response.Headers.RetryAfter = fault.RetryAfter;
                }

                await WriteAsync(context, record, (int)fault.StatusCode, fault.Body is null ? null : Encoding.UTF8.GetBytes(fault.Body), fault.ContentType).ConfigureAwait(false);
                return true;
        }
    }

    private M3terFault? NextTokenFault(string? accessKeyId)
    {
        if (accessKeyId is not null && _keyTokenFaults.TryGetValue(accessKeyId, out ConcurrentQueue<M3terFault>? own) && own.TryDequeue(out M3terFault? aimed))
        {
            return aimed;
        }

        if (_tokenFaults.TryDequeue(out M3terFault? queued))
        {
            return queued;
        }

        if (PersistentTokenFault is M3terFault persistent)
        {
            return persistent;
        }

        double rate = TransientTokenFailureRate;
        bool fail;
        lock (_randomGate)
        {
            fail = rate > 0 && _random.NextDouble() < rate;
        }

        return fail ? M3terFault.Status(HttpStatusCode.ServiceUnavailable, "{\"message\":\"Service Unavailable\"}") : null;
    }

    private async Task TokenAsync(HttpContext context, M3terRecordedRequest record, CancellationToken aborted)
    {
        // M3TER.md, "Getting a token": POST only.
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.Headers.Allow = "POST";
            await MessageAsync(context, record, 405, "Method not allowed: the token endpoint takes POST").ConfigureAwait(false);
            return;
        }

        string? accessKeyId = Credentials(record, out string? secret);
        if (NextTokenFault(accessKeyId) is M3terFault fault && await ApplyFaultAsync(context, record, fault, aborted).ConfigureAwait(false))
        {
            return;
        }

        if (accessKeyId is null || !_credentials.TryGetValue(accessKeyId, out (string Secret, string OrganizationId) expected)
            || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected.Secret), Encoding.UTF8.GetBytes(secret!)))
        {
            await WriteAsync(context, record, 401, EmulatorJson.Write(w =>
            {
                w.WriteString("error", "invalid_client");
                w.WriteString("error_description", "Bad credentials");
            })).ConfigureAwait(false);
            return;
        }

        if (!GrantValid(record))
        {
            await WriteAsync(context, record, 400, EmulatorJson.Write(w =>
            {
                w.WriteString("error", "unsupported_grant_type");
                w.WriteString("error_description", "grant_type must be client_credentials");
            })).ConfigureAwait(false);
            return;
        }

        // expires_in is whole seconds: advertise the lifetime rounded up and let the token live exactly that long, so
        // no token dies before the moment its client was told.
        string token = NewToken();
        long seconds = Math.Max(1, (long)Math.Ceiling(TokenLifetime.TotalSeconds));
        DateTimeOffset now = _options.TimeProvider.GetUtcNow();
        _tokens[token] = new IssuedToken(now, now.AddSeconds(seconds), accessKeyId, PreIssued: false) { OrganizationId = expected.OrganizationId };
        if (Interlocked.Increment(ref _tokensIssued) % 64 == 0)
        {
            Prune(now);
        }

        await WriteAsync(context, record, 200, EmulatorJson.Write(w =>
        {
            w.WriteString("access_token", token);
            w.WriteString("token_type", "Bearer");
            w.WriteNumber("expires_in", seconds);
            w.WriteNull("scope");
        })).ConfigureAwait(false);
    }

    /// <summary>Forgets tokens that expired over a minute ago, and their revocations, so a long run's maps stay small.</summary>
    private void Prune(DateTimeOffset now)
    {
        foreach (var (token, issued) in _tokens)
        {
            if (issued.ExpiresAt < now - TimeSpan.FromMinutes(1) && _tokens.TryRemove(token, out _))
            {
                _revoked.TryRemove(token, out _);
            }
        }
    }

    private static string? Credentials(M3terRecordedRequest record, out string? secret)
    {
        secret = null;
        string? header = record.Authorization;
        if (header is null || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
        }
        catch (FormatException)
        {
            return null;
        }

        int colon = decoded.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return null;
        }

        secret = decoded[(colon + 1)..];
        return decoded[..colon];
    }

    private static bool GrantValid(M3terRecordedRequest record)
    {
        string contentType = record.Headers.TryGetValue("Content-Type", out string? value) ? value : string.Empty;
        if (contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                using JsonDocument document = JsonDocument.Parse(record.Body);
                return document.RootElement.ValueKind == JsonValueKind.Object
                    && document.RootElement.TryGetProperty("grant_type", out JsonElement grant)
                    && grant.ValueKind == JsonValueKind.String
                    && grant.GetString() == "client_credentials";
            }
            catch (JsonException)
            {
                return false;
            }
        }

        if (contentType.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
        {
            return record.BodyText.Split('&').Any(pair => string.Equals(Uri.UnescapeDataString(pair), "grant_type=client_credentials", StringComparison.Ordinal));
        }

        return false;
    }

    private static string NewToken()
    {
        Span<byte> bytes = stackalloc byte[32];
        RandomNumberGenerator.Fill(bytes);
        return "emu_" + Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>An ISO 8601 (RFC 3339 profile) date and time: a full date, <c>T</c>, hours and minutes, optional seconds and fraction, optional zone.</summary>
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?\z", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex IsoTimestamp();

    /// <summary>The ingest API's one path, <c>/organizations/{orgId}/measurements</c>, with nothing before or after it.</summary>
    [GeneratedRegex(@"^/organizations/[^/]+/measurements\z", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex MeasurementsPath();

    private sealed record IssuedToken(DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt, string? AccessKeyId, bool PreIssued)
    {
        /// <summary>Gets the organization the token is for: null for the emulator's own (<see cref="OrganizationId"/>).</summary>
        public string? OrganizationId { get; init; }
    }
}
