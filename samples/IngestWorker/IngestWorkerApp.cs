using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth;
using M3ter.Auth.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace IngestWorker;

/// <summary>
/// The ingest worker: a generic host whose worker submits usage measurements to m3ter's ingest API in batches, with
/// M3ter.Auth for tokens and the standard resilience handler for transient failures. Against the built-in emulator
/// by default; against real m3ter when M3TER_API_KEY, M3TER_API_SECRET and M3TER_ORG_ID are set.
/// </summary>
public static class IngestWorkerApp
{
    private const string Usage = "usage: dotnet run --project samples/IngestWorker [-- --seconds N] [--rate MEASUREMENTS_PER_SECOND] [--summary SECONDS]";

    /// <param name="args">Command line.</param>
    /// <param name="output">Where the summary goes.</param>
    /// <param name="emulator">An emulator to use instead of starting one (tests pass theirs); ignored against real m3ter.</param>
    /// <param name="consoleLifetime">Whether Ctrl+C and SIGTERM stop it (true for the program; tests stop it themselves).</param>
    public static async Task<int> RunAsync(string[] args, TextWriter output, M3terEmulator? emulator = null, bool consoleLifetime = true)
    {
        double seconds = double.PositiveInfinity, rate = 200, summary = 2;
        for (int i = 0; i < args.Length; i++)
        {
            string? next = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--seconds" when next is not null:
                    seconds = double.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--rate" when next is not null:
                    rate = double.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--summary" when next is not null:
                    summary = double.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                default:
                    output.WriteLine(Usage);
                    return 64;
            }
        }

        bool real = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("M3TER_API_KEY"))
            && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("M3TER_API_SECRET"));
        M3terEmulator? owned = real || emulator is not null ? null : await M3terEmulator.StartAsync();
        M3terEmulator? m3ter = real ? null : emulator ?? owned;
        try
        {
            HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = !consoleLifetime });
            builder.Logging.ClearProviders();
            builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
            if (!consoleLifetime)
            {
                builder.Services.AddSingleton<IHostLifetime, ManualLifetime>();
            }

            #region snippet:ingest-worker
            // Tokens for every request to m3ter; transient failures (5xx, 408, 429, network) retried by the standard
            // resilience handler, which sits outside the auth handler: each retry carries a valid token, and a 401/403
            // is the auth handler's to replay once with a fresh token, never retried by the resilience layer.
            builder.Services.AddM3terAuth(options => m3ter?.Configure(options));
            IHttpClientBuilder ingest = builder.Services.AddHttpClient("m3ter-ingest", (sp, http) =>
                http.BaseAddress = sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().CurrentValue.IngestBaseAddress);
            ingest.AddStandardResilienceHandler(); // outermost: retries transient failures
            ingest.AddM3terAuthHandler();          // inside it: every attempt carries a valid token
            ingest.AddTypedClient((http, sp) => new IngestClient(http, sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().CurrentValue.OrganizationId!));
            builder.Services.AddHealthChecks().AddCheck<M3terAuthHealthCheck>("m3ter");
            #endregion

            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(60)); // time to flush the queue
            builder.Services.AddSingleton<MeasurementBuffer>();
            builder.Services.AddSingleton<IngestStatistics>();
            builder.Services.AddSingleton(new IngestWorkerSettings(rate, "unused"));
            builder.Services.AddSingleton(TimeProvider.System);
            builder.Services.AddHostedService<IngestWorkerService>();
            builder.Services.AddHostedService<UsageGenerator>();
            builder.Services.AddSingleton(sp => new SummaryPrinter(sp.GetRequiredService<IngestStatistics>(), sp.GetRequiredService<HealthCheckService>(), output, TimeSpan.FromSeconds(summary)));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<SummaryPrinter>());
            using IHost host = builder.Build();

            M3terAuthOptions settings = host.Services.GetRequiredService<IOptions<M3terAuthOptions>>().Value;
            if (settings.OrganizationId is null)
            {
                output.WriteLine("M3TER_ORG_ID is not set: the worker needs the organization to submit measurements to.");
                return 2;
            }

            output.WriteLine("M3ter.Auth ingest worker");
            output.WriteLine(m3ter is null
                ? $"  target:  real m3ter at {settings.IngestBaseAddress} (submitting {rate:0} measurements/s of meter 'api-calls' to organization {settings.OrganizationId})"
                : $"  target:  the built-in m3ter emulator at {m3ter.IngestBaseAddress} (set M3TER_API_KEY, M3TER_API_SECRET and M3TER_ORG_ID to use real m3ter)");
            output.WriteLine(double.IsPositiveInfinity(seconds) ? "  running: until Ctrl+C" : $"  running: for {seconds:0.#} s");

            await host.StartAsync();
            var stop = new TaskCompletionSource();
            using CancellationTokenRegistration stopping = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => stop.TrySetResult());
            await (double.IsPositiveInfinity(seconds) ? stop.Task : Task.WhenAny(stop.Task, Task.Delay(TimeSpan.FromSeconds(seconds))));
            await host.StopAsync(); // stops generating, then flushes what is queued

            var statistics = host.Services.GetRequiredService<IngestStatistics>();
            await host.Services.GetRequiredService<SummaryPrinter>().PrintAsync(CancellationToken.None);
            long leftBehind = statistics.Generated - statistics.SentMeasurements - statistics.RejectedMeasurements;
            output.WriteLine($"  stopped: {statistics.Generated} generated, {statistics.SentMeasurements} sent, {statistics.RejectedMeasurements} rejected by m3ter, {leftBehind} left behind");
            if (m3ter is not null)
            {
                int received = m3ter.Measurements.Count, distinct = m3ter.Measurements.Select(m => m.Uid).Distinct().Count();
                output.WriteLine($"  the emulator accepted {received} measurement(s), {distinct} distinct");
            }

            return statistics.Generated == statistics.SentMeasurements ? 0 : 1; // a rejected or unsent measurement is a failed run
        }
        finally
        {
            if (owned is not null)
            {
                await owned.DisposeAsync();
            }
        }
    }

    /// <summary>For tests: no console lifetime, so the test host's signals stay its own.</summary>
    private sealed class ManualLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
