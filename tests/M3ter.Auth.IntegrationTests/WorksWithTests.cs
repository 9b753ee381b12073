using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Refit;

namespace M3ter.Auth.IntegrationTests;

/// <summary>A measurement as a Refit client sends it.</summary>
public sealed record RefitMeasurement(string Uid, string Meter, string Account, string Ts);

/// <summary>A batch of measurements, as m3ter's ingest API takes it.</summary>
public sealed record RefitMeasurements(IReadOnlyList<RefitMeasurement> Measurements);

/// <summary>m3ter's ingest API as a generated Refit client.</summary>
public interface IM3terIngestApi
{
    [Post("/organizations/{orgId}/measurements")]
    Task<HttpResponseMessage> SubmitAsync(string orgId, [Body] RefitMeasurements batch);
}

/// <summary>The clients and libraries people wrap, each with the README's "Works with" snippet, run for real.</summary>
public sealed class WorksWithTests
{
    private static readonly TimeSpan NoHang = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Refit_GeneratedClient_CarriesTheToken_AndAfterARevocationReplaysTheIdenticalBody()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        var services = new ServiceCollection();
        services.AddM3terAuth(m3ter.Configure);

        #region snippet:works-with-refit
        services.AddRefitGeneratedClient<IM3terIngestApi>()
            .ConfigureHttpClient((sp, http) => http.BaseAddress = sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().CurrentValue.IngestBaseAddress)
            .AddM3terAuthHandler();
        #endregion

        await using ServiceProvider sp = services.BuildServiceProvider();
        var ingest = sp.GetRequiredService<IM3terIngestApi>();
        var batch = new RefitMeasurements([new RefitMeasurement("refit-1", "api-calls", "acme", "2026-11-28T12:00:00Z")]);

        using HttpResponseMessage first = await ingest.SubmitAsync(m3ter.OrganizationId, batch).WaitAsync(NoHang);
        m3ter.RevokeAllTokens();
        using HttpResponseMessage second = await ingest.SubmitAsync(m3ter.OrganizationId, batch with { Measurements = [new RefitMeasurement("refit-2", "api-calls", "acme", "2026-11-28T12:00:01Z")] }).WaitAsync(NoHang);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        M3terRecordedRequest[] posts = m3ter.Requests.Where(r => r.Kind == M3terRequestKind.Ingest).ToArray();
        Assert.Equal(new int?[] { 200, 403, 200 }, posts.Select(r => r.StatusCode));
        Assert.Equal(posts[1].BodyText, posts[2].BodyText); // the replay carried the identical body
        Assert.NotEqual(posts[1].BearerToken, posts[2].BearerToken);
        Assert.Equal(new[] { "refit-1", "refit-2" }, m3ter.Measurements.Select(m => m.Uid));
        Assert.Equal(2, m3ter.TokenRequestCount);
    }

    [Fact]
    public async Task StandardResilienceHandler_OutsideTheAuthHandler_RetriesTransientFailures_NeverRetriesRefusals_OneTokenForAll()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        var services = new ServiceCollection();
        services.AddM3terAuth(m3ter.Configure);

        #region snippet:works-with-resilience
        IHttpClientBuilder m3terClient = services.AddHttpClient("m3ter", (sp, http) =>
            http.BaseAddress = sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().CurrentValue.BaseAddress);
        m3terClient.AddStandardResilienceHandler(); // outermost: retries 5xx, 408, 429 and network failures
        m3terClient.AddM3terAuthHandler();          // inside it: each attempt carries a valid token; 401/403 are its to replay
        #endregion

        await using ServiceProvider sp = services.BuildServiceProvider();
        HttpClient api = sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");
        m3ter.EnqueueApiFault(M3terRequestKind.Config, M3terFault.Status(HttpStatusCode.ServiceUnavailable));
        m3ter.EnqueueApiFault(M3terRequestKind.Config, M3terFault.Status(HttpStatusCode.TooManyRequests));

        using HttpResponseMessage retried = await api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative)).WaitAsync(NoHang);
        Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        Assert.Equal(new int?[] { 503, 429, 200 }, m3ter.Requests.Where(r => r.Kind == M3terRequestKind.Config).Select(r => r.StatusCode));
        Assert.Equal(1, m3ter.TokenRequestCount); // one token for the logical call and all its attempts

        m3ter.DenyPermission("/plans");
        using HttpResponseMessage refused = await api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/plans", UriKind.Relative)).WaitAsync(NoHang);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(2, m3ter.Requests.Count(r => r.Path.EndsWith("/plans", StringComparison.Ordinal))); // the auth handler's one replay, no resilience retries
        Assert.Equal(2, m3ter.TokenRequestCount);
    }

    [Fact]
    public async Task StandardResilienceHandler_FromConfigureHttpClientDefaults_EndsUpOutside_AndTheTokenClientKeepsItsOwnPipeline()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        var services = new ServiceCollection();

        #region snippet:works-with-aspire-defaults
        services.ConfigureHttpClientDefaults(http => http.AddStandardResilienceHandler()); // what .NET Aspire's service defaults do
        services.AddM3terAuth(m3ter.Configure);
        services.AddHttpClient("m3ter", (sp, http) => http.BaseAddress = sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().CurrentValue.BaseAddress)
            .AddM3terAuthHandler(); // the defaults' handler is outside it, as it should be
        #endregion

        await using ServiceProvider sp = services.BuildServiceProvider();
        m3ter.EnqueueApiFault(M3terRequestKind.Config, M3terFault.Status(HttpStatusCode.BadGateway));
        m3ter.EnqueueTokenFault(M3terFault.Status(HttpStatusCode.ServiceUnavailable));

        using HttpResponseMessage response = await sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter")
            .GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/meters", UriKind.Relative)).WaitAsync(NoHang);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(new int?[] { 502, 200 }, m3ter.Requests.Where(r => r.Kind == M3terRequestKind.Config).Select(r => r.StatusCode));
        Assert.Equal(new int?[] { 503, 200 }, m3ter.Requests.Where(r => r.Kind == M3terRequestKind.Token).Select(r => r.StatusCode)); // M3ter.Auth's own retry
    }

    [Fact]
    public async Task OpenTelemetry_SeesTheMeterAndTheActivitySource_AndNoTagOrEventCarriesASecretOrAToken()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        var metrics = new List<Metric>();
        var activities = new List<Activity>();

        #region snippet:works-with-opentelemetry
        using MeterProvider meters = Sdk.CreateMeterProviderBuilder()
            .AddMeter("M3ter.Auth") // token requests, their duration, replays, the token's remaining lifetime, the shared cache
            .AddInMemoryExporter(metrics)
            .Build();
        using TracerProvider traces = Sdk.CreateTracerProviderBuilder()
            .AddSource("M3ter.Auth") // one m3ter.auth.token_request span per token request
            .AddInMemoryExporter(activities)
            .Build();
        #endregion

        var services = new ServiceCollection();
        services.AddM3terAuth(o =>
        {
            m3ter.Configure(o);
            o.RetryDelay = TimeSpan.FromMilliseconds(10);
        });
        services.AddHttpClient("m3ter", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
        await using ServiceProvider sp = services.BuildServiceProvider();
        HttpClient api = sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");

        m3ter.EnqueueTokenFault(M3terFault.Status(HttpStatusCode.ServiceUnavailable)); // a retried attempt
        (await api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}", UriKind.Relative))).Dispose();
        m3ter.RevokeAllTokens();                                                       // a replay
        (await api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative))).Dispose();
        meters.ForceFlush();
        traces.ForceFlush();

        string[] names = metrics.Select(m => m.Name).Distinct().ToArray();
        Assert.Contains("m3ter.auth.token.requests", names);
        Assert.Contains("m3ter.auth.token.request.duration", names);
        Assert.Contains("m3ter.auth.replays", names);
        Assert.Contains("m3ter.auth.token.remaining_lifetime", names);
        Metric duration = metrics.First(m => m.Name == "m3ter.auth.token.request.duration");
        Assert.Equal("s", duration.Unit);
        Assert.Contains(activities.ToArray(), a => a?.OperationName == "m3ter.auth.token_request");

        var everything = new List<string>();
        foreach (Metric metric in metrics.ToArray())
        {
            foreach (ref readonly MetricPoint point in metric.GetMetricPoints())
            {
                foreach (KeyValuePair<string, object?> tag in point.Tags)
                {
                    everything.Add(tag.Key + "=" + tag.Value);
                }
            }
        }

        // The activity source is process-wide: test classes running beside this one add their activities to the
        // exporter's list while it is read here, so read a copy (a slot being filled at that moment may be null).
        foreach (Activity activity in activities.ToArray().Where(a => a is not null))
        {
            everything.Add(activity.DisplayName + " " + activity.StatusDescription);
            everything.AddRange(activity.TagObjects.Select(t => t.Key + "=" + t.Value));
            everything.AddRange(activity.Events.SelectMany(e => e.Tags.Select(t => e.Name + ":" + t.Key + "=" + t.Value)));
        }

        string all = string.Join("\n", everything);
        Assert.Contains("server.address=127.0.0.1", all, StringComparison.Ordinal);
        Assert.DoesNotContain(m3ter.ApiSecret, all, StringComparison.Ordinal);
        Assert.DoesNotContain(m3ter.AccessKeyId, all, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(m3ter.AccessKeyId + ":" + m3ter.ApiSecret)), all, StringComparison.Ordinal);
        Assert.All(m3ter.IssuedTokens, token => Assert.DoesNotContain(token, all, StringComparison.Ordinal));
    }

    [Fact]
    public async Task AspNetCoreHealthChecks_MapHealthChecks_ReportsHealthyThenUnhealthy()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddM3terAuth(o =>
        {
            m3ter.Configure(o);
            o.RejectedCredentialsCacheDuration = TimeSpan.Zero;
        });

        #region snippet:works-with-health-checks
        builder.Services.AddHealthChecks().AddCheck<M3terAuthHealthCheck>("m3ter");
        #endregion

        await using WebApplication app = builder.Build();

        #region snippet:works-with-map-health-checks
        app.MapHealthChecks("/health");
        #endregion

        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        using var http = new HttpClient { BaseAddress = new Uri(address) };

        using HttpResponseMessage healthy = await http.GetAsync(new Uri("health", UriKind.Relative)).WaitAsync(NoHang);
        Assert.Equal(HttpStatusCode.OK, healthy.StatusCode);
        Assert.Equal("Healthy", await healthy.Content.ReadAsStringAsync());

        // The key is deactivated and its token revoked: the check asks for a new token, which is refused.
        m3ter.RemoveCredentials(m3ter.AccessKeyId);
        app.Services.GetRequiredService<ITokenProvider>().Invalidate(await app.Services.GetRequiredService<ITokenProvider>().GetTokenAsync());
        using HttpResponseMessage unhealthy = await http.GetAsync(new Uri("health", UriKind.Relative)).WaitAsync(NoHang);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unhealthy.StatusCode);
        Assert.Equal("Unhealthy", await unhealthy.Content.ReadAsStringAsync());
        await app.StopAsync();
    }

    [Fact]
    public async Task IngestWorkerSample_RunsAgainstTheEmulator_AndEveryMeasurementArrivesExactlyOnce()
    {
        // Faults on the way: a 503 and a 429 from the ingest API (retried by the resilience handler) and every token
        // revoked mid-run (replayed by the auth handler). Each measurement's uid must arrive once, none left behind.
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        m3ter.EnqueueApiFault(M3terRequestKind.Ingest, M3terFault.Status(HttpStatusCode.ServiceUnavailable));
        m3ter.EnqueueApiFault(M3terRequestKind.Ingest, M3terFault.RetryAfterSeconds(HttpStatusCode.TooManyRequests, TimeSpan.FromSeconds(1)));
        var output = new StringWriter();

        Task<int> run = IngestWorker.IngestWorkerApp.RunAsync(["--seconds", "4", "--rate", "1500", "--summary", "1"], output, m3ter, consoleLifetime: false);
        await Task.Delay(2000);
        m3ter.RevokeAllTokens();
        int exitCode = await run.WaitAsync(TimeSpan.FromSeconds(60));

        string text = output.ToString();
        Assert.True(exitCode == 0, text);
        Assert.Contains("0 left behind", text, StringComparison.Ordinal);
        int generated = int.Parse(text.Split("stopped: ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(generated > 1000, text);
        Assert.Equal(generated, m3ter.Measurements.Count);                           // every one arrived…
        Assert.Equal(generated, m3ter.Measurements.Select(m => m.Uid).Distinct().Count()); // …exactly once
        Assert.All(m3ter.Requests.Where(r => r.Kind == M3terRequestKind.Ingest), r => Assert.True(r.BodyText.Length < M3terEmulator.MaxIngestPayloadBytes));
        Assert.Contains(m3ter.Requests, r => r.Kind == M3terRequestKind.Ingest && r.StatusCode == 403); // the revocation was met, and replayed
        Assert.DoesNotContain(m3ter.ApiSecret, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IngestWorkerSample_ABatchRefusedAsMalformed_IsDroppedAndCounted_AndTheWorkerCarriesOn()
    {
        // A 400 would be the answer to every retry of that body: the worker drops that one batch, says so, and keeps
        // sending the rest. The run fails (exit code 1) because measurements were lost.
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        m3ter.EnqueueApiFault(M3terRequestKind.Ingest, M3terFault.Status(HttpStatusCode.BadRequest, """{"message":"bad measurement"}"""));
        var output = new StringWriter();

        int exitCode = await IngestWorker.IngestWorkerApp.RunAsync(["--seconds", "3", "--rate", "500", "--summary", "1"], output, m3ter, consoleLifetime: false).WaitAsync(TimeSpan.FromSeconds(60));

        string text = output.ToString();
        Assert.True(exitCode == 1, text);
        string[] stopped = text.Split("stopped: ")[1].Split(' ');
        int generated = int.Parse(stopped[0], System.Globalization.CultureInfo.InvariantCulture);
        int rejected = int.Parse(stopped[4], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains("0 left behind", text, StringComparison.Ordinal);
        Assert.True(rejected > 0, text);
        Assert.Equal(generated, m3ter.Measurements.Count + rejected); // the others all arrived

        // And it went on sending after the refusal. (Not "at least two more batches": on a starved CPU the generator
        // runs in bursts, and 3 s of measurements can fit in the refused batch and one more.)
        var ingests = m3ter.Requests.Where(r => r.Kind == M3terRequestKind.Ingest).ToList();
        int refused = ingests.FindIndex(r => r.StatusCode == 400);
        Assert.True(refused >= 0 && ingests.Skip(refused + 1).Any(r => r.StatusCode == 200), text);
    }
}
