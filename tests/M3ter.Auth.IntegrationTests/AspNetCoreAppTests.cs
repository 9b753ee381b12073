using System;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace M3ter.Auth.IntegrationTests;

/// <summary>The README's ASP.NET Core app, run for real against the emulator: a config call and a measurement, each with a token.</summary>
public sealed class AspNetCoreAppTests
{
    private static readonly TimeSpan NoHang = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task AspNetCoreApp_AsTheReadmeShows_CallsTheConfigApiAndSubmitsAMeasurement()
    {
        await using M3terEmulator emulator = await M3terEmulator.StartAsync();
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        builder.Configuration.AddInMemoryCollection(emulator.ConfigurationValues); // in the app: user secrets or M3TER_* variables
        builder.WebHost.UseUrls("http://127.0.0.1:0");

        #region snippet:aspnetcore-app
        // Credentials from the "M3ter" configuration section (user secrets in development:
        // dotnet user-secrets set M3ter:ApiSecret ...) or M3TER_API_KEY, M3TER_API_SECRET and M3TER_ORG_ID.
        builder.Services.AddM3terAuth();
        builder.Services.AddHttpClient("m3ter", (sp, http) =>
            http.BaseAddress = sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().CurrentValue.BaseAddress)
            .AddM3terAuthHandler();
        builder.Services.AddHttpClient("m3ter-ingest", (sp, http) =>
            http.BaseAddress = sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().CurrentValue.IngestBaseAddress)
            .AddM3terAuthHandler(); // the config API and the ingest API share one cached token
        WebApplication app = builder.Build();

        app.MapGet("/plans", (IHttpClientFactory clients, IOptionsMonitor<M3terAuthOptions> m3ter) =>
            clients.CreateClient("m3ter").GetStringAsync($"organizations/{m3ter.CurrentValue.OrganizationId}/plans"));

        app.MapPost("/usage/{account}", async (string account, IHttpClientFactory clients, IOptionsMonitor<M3terAuthOptions> m3ter) =>
        {
            // POST https://ingest.m3ter.com/organizations/{orgId}/measurements: 1 to 1,000 measurements, under 512,000 bytes.
            var measurement = new { uid = Guid.NewGuid().ToString(), meter = "api_calls", account, ts = DateTime.UtcNow.ToString("o"), measure = new { calls = 1 } };
            using HttpResponseMessage sent = await clients.CreateClient("m3ter-ingest")
                .PostAsJsonAsync($"organizations/{m3ter.CurrentValue.OrganizationId}/measurements", new { measurements = new[] { measurement } });
            return Results.StatusCode((int)sent.StatusCode);
        });
        #endregion

        await app.StartAsync();
        try
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
            using var browser = new HttpClient { BaseAddress = address };

            using HttpResponseMessage plans = await browser.GetAsync(new Uri("plans", UriKind.Relative)).WaitAsync(NoHang);
            using HttpResponseMessage usage = await browser.PostAsync(new Uri("usage/acme", UriKind.Relative), null).WaitAsync(NoHang);

            Assert.Equal(HttpStatusCode.OK, plans.StatusCode);
            Assert.Equal(HttpStatusCode.OK, usage.StatusCode);
            Assert.Equal("acme", Assert.Single(emulator.Measurements).Account);
            Assert.Equal(1, emulator.TokenRequestCount);
            Assert.Equal(2, emulator.ApiRequestCount);
            Assert.Equal(0, emulator.ApiRequestsWithoutTokenCount);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
