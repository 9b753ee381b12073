using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing.Internal;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
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
}
