using System;
using System.Diagnostics.Metrics;
using System.IO;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth;
using M3ter.Auth.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace QuickStart;

/// <summary>
/// The quickstart: obtains a token, calls the config API, submits a measurement to the ingest API, and reports what
/// happened — never the token itself. Talks to real m3ter when M3TER_API_KEY and M3TER_API_SECRET are set, otherwise
/// to the built-in emulator. Against real m3ter it only reads, unless <c>--ingest</c> is passed: a quickstart must not
/// write billing data into a production organization by surprise. <c>--redis &lt;configuration&gt;</c> shares the
/// token through Redis (M3ter.Auth.StackExchangeRedis).
/// </summary>
public static class QuickStartApp
{
    private const string Usage = "usage: dotnet run --project samples/QuickStart [-- [--ingest] [--redis <configuration>]]";

    public static async Task<int> RunAsync(TextWriter output, string[]? args = null, CancellationToken cancellationToken = default)
    {
        bool ingestRequested = false;
        string? redis = null;
        args ??= Array.Empty<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--ingest":
                    ingestRequested = true;
                    break;
                case "--redis" when i + 1 < args.Length:
                    redis = args[++i];
                    break;
                default:
                    output.WriteLine(Usage);
                    return 64;
            }
        }

        bool real = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("M3TER_API_KEY"))
            && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("M3TER_API_SECRET"));
        await using M3terEmulator? emulator = real ? null : await M3terEmulator.StartAsync(cancellationToken: cancellationToken);

        using var tokenRequests = new TokenRequestCounter();
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));

        #region snippet:quickstart-di
        // Credentials from M3TER_API_KEY / M3TER_API_SECRET / M3TER_ORG_ID, the "M3ter" configuration section, or here.
        services.AddM3terAuth(options => emulator?.Configure(options));

        // A handler on each client that talks to m3ter: config API and ingest API share one cached token.
        services.AddHttpClient<M3terConfigClient>((sp, http) => http.BaseAddress = sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().CurrentValue.BaseAddress)
            .AddM3terAuthHandler();
        services.AddHttpClient<M3terIngestClient>((sp, http) => http.BaseAddress = sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().CurrentValue.IngestBaseAddress)
            .AddM3terAuthHandler();
        #endregion

        if (redis is not null)
        {
            #region snippet:redis-cache
            services.AddM3terAuthRedisTokenCache(o => o.Configuration = redis); // one token for every process that shares it
            #endregion
        }

        await using ServiceProvider provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        M3terAuthOptions settings = provider.GetRequiredService<IOptions<M3terAuthOptions>>().Value;

        output.WriteLine("M3ter.Auth quickstart");
        output.WriteLine(emulator is null
            ? $"  target:  real m3ter at {settings.BaseAddress} (access key {settings.AccessKeyId})"
            : $"  target:  the built-in m3ter emulator at {emulator.BaseAddress} (set M3TER_API_KEY and M3TER_API_SECRET to use real m3ter)");
        if (redis is not null)
        {
            output.WriteLine("  shared:  tokens are shared through Redis (M3ter.Auth.StackExchangeRedis)");
        }

        try
        {
            M3terToken token = await provider.GetRequiredService<ITokenProvider>().GetTokenAsync(cancellationToken);
            output.WriteLine($"  token:   {token} (in {token.ExpiresAt - DateTimeOffset.UtcNow:h\\h\\ mm\\m})");
        }
        catch (M3terAuthException ex)
        {
            output.WriteLine($"  token:   FAILED - {ex.Message}");
            return 1;
        }

        if (settings.OrganizationId is null)
        {
            output.WriteLine("  calls:   skipped: set M3TER_ORG_ID to call the config and ingest APIs.");
            output.WriteLine($"  token requests made: {tokenRequests.Count}");
            return 0;
        }

        var config = provider.GetRequiredService<M3terConfigClient>();
        var ingest = provider.GetRequiredService<M3terIngestClient>();
        int calls = 0, failures = 0;
        TimeSpan? firstCall = null;
        async Task Report(string what, Task<HttpResponseMessage> call)
        {
            using HttpResponseMessage response = await call;
            firstCall ??= DateTime.Now - System.Diagnostics.Process.GetCurrentProcess().StartTime;
            calls++;
            failures += response.IsSuccessStatusCode ? 0 : 1;
            output.WriteLine($"  {what,-48} -> {(int)response.StatusCode} {response.ReasonPhrase}");
        }

        await Report($"GET  config  /organizations/{{orgId}}", config.GetOrganizationAsync(cancellationToken));
        await Report($"GET  config  /organizations/{{orgId}}/products", config.ListProductsAsync(cancellationToken));
        if (emulator is not null || ingestRequested)
        {
            await Report($"POST ingest  /organizations/{{orgId}}/measurements", ingest.SubmitAsync("quickstart", "quickstart-account", 1, cancellationToken));
        }
        else
        {
            output.WriteLine($"  {"POST ingest  /organizations/{orgId}/measurements",-48} -> skipped: against real m3ter the quickstart only reads; pass --ingest to submit one measurement (meter 'quickstart', account 'quickstart-account') to your organization");
        }

        output.WriteLine($"  token requests made: {tokenRequests.Count}; API calls made: {calls}; failed: {failures}");
        output.WriteLine($"  first authenticated call answered {firstCall!.Value.TotalMilliseconds:0} ms after the process started");
        if (emulator is not null)
        {
            output.WriteLine($"  the emulator saw {emulator.TokenRequestCount} token request(s) and {emulator.Requests.Count - emulator.TokenRequestCount} API call(s).");
        }

        return failures == 0 ? 0 : 2;
    }

    /// <summary>Counts token requests through the library's own metric, m3ter.auth.token.requests.</summary>
    private sealed class TokenRequestCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _count;

        public TokenRequestCounter()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "M3ter.Auth" && instrument.Name == "m3ter.auth.token.requests")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _count, value));
            _listener.Start();
        }

        public long Count => Interlocked.Read(ref _count);

        public void Dispose() => _listener.Dispose();
    }
}
