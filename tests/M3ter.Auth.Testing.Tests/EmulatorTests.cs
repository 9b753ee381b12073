using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace M3ter.Auth.Testing.Tests;

/// <summary>M3ter.Auth.Testing as a product: its defects fixed, its faithfulness to m3ter, and what users get from it.</summary>
public sealed class EmulatorTests
{
    private static readonly TimeSpan NoHang = TimeSpan.FromSeconds(30);

    /// <summary>Raw HTTP, no M3ter.Auth: what any client sees.</summary>
    private static readonly HttpClient Http = new();

    private static async Task<string> TokenAsync(M3terEmulator m3ter, string? key = null, string? secret = null)
    {
        using HttpResponseMessage response = await RequestTokenAsync(m3ter, key, secret);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using JsonDocument body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("access_token").GetString()!;
    }

    private static Task<HttpResponseMessage> RequestTokenAsync(M3terEmulator m3ter, string? key = null, string? secret = null, HttpMethod? method = null)
    {
        var request = new HttpRequestMessage(method ?? HttpMethod.Post, new Uri(m3ter.BaseAddress, "oauth/token"))
        {
            Content = method is null || method == HttpMethod.Post ? new StringContent("{\"grant_type\":\"client_credentials\"}", Encoding.UTF8, "application/json") : null,
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes((key ?? m3ter.AccessKeyId) + ":" + (secret ?? m3ter.ApiSecret))));
        return Http.SendAsync(request).WaitAsync(NoHang);
    }

    private static Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri uri, string token, string? json = null)
    {
        var request = new HttpRequestMessage(method, uri) { Content = json is null ? null : new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return Http.SendAsync(request).WaitAsync(NoHang);
    }

    private static Uri Config(M3terEmulator m3ter, string rest = "") => new(m3ter.BaseAddress, $"organizations/{m3ter.OrganizationId}{rest}");

    private static Uri Measurements(M3terEmulator m3ter) => new(m3ter.IngestBaseAddress, $"organizations/{m3ter.OrganizationId}/measurements");

    private static string Measurement(string uid, string ts = "2026-11-28T12:00:00Z", string extra = "") =>
        $"{{\"uid\":\"{uid}\",\"meter\":\"api-calls\",\"account\":\"acme\",\"ts\":\"{ts}\"{extra}}}";

    private static async Task<string> MessageOf(HttpResponseMessage response)
    {
        using JsonDocument body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("message").GetString()!;
    }

    // ---- Defects ----

    [Fact]
    public async Task Ingest_AStringWithABadUtf8Byte_Is400WithAMessage_Not500()
    {
        // Found by tests/Fuzz (ingest-body): the JSON reader accepts the bytes, and reading the string threw later.
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        byte[] body = Encoding.UTF8.GetBytes("{\"measurements\":[" + Measurement("u\u00e9") + "]}");
        body[Array.IndexOf(body, (byte)0xA9)] = 0x28; // "é" becomes the invalid pair C3 28
        var request = new HttpRequestMessage(HttpMethod.Post, Measurements(m3ter)) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await TokenAsync(m3ter));

        using HttpResponseMessage response = await Http.SendAsync(request).WaitAsync(NoHang);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("not valid UTF-8 JSON", await MessageOf(response), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[]", "a JSON object")]
    [InlineData("\"x\"", "a JSON object")]
    [InlineData("42", "a JSON object")]
    [InlineData("{\"measurements\":", "not valid JSON")]
    public async Task Ingest_BodyThatIsNotAnObject_Is400WithAMessage_Not500(string body, string expected)
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();

        using HttpResponseMessage response = await SendAsync(HttpMethod.Post, Measurements(m3ter), await TokenAsync(m3ter), body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, await MessageOf(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AProcessRunningAnEmulator_StillStopsOnSigterm()
    {
        using Process process = BuiltProgram.Start(BuiltProgram.PathOf("tests/Tools/M3ter.Auth.FleetProbe", "M3ter.Auth.FleetProbe"), "emulator");
        try
        {
            Assert.Equal("ready", await process.StandardOutput.ReadLineAsync().WaitAsync(NoHang));

            BuiltProgram.Terminate(process);

            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            string rest = await process.StandardOutput.ReadToEndAsync();
            Assert.DoesNotContain("still running", rest, StringComparison.Ordinal);
            Assert.NotEqual(0, process.ExitCode); // killed by the signal, not run to completion
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task DisposeAsync_WithARequestHeldByASlowFault_ReturnsAtOnce()
    {
        M3terEmulator m3ter = await M3terEmulator.StartAsync();
        m3ter.PersistentTokenFault = M3terFault.Slow(TimeSpan.FromMinutes(5));
        Task<HttpResponseMessage> held = RequestTokenAsync(m3ter);
        await m3ter.WaitForRequestsAsync(r => true, 0, NoHang); // let it arrive
        await Task.Delay(200);

        var clock = Stopwatch.StartNew();
        await m3ter.DisposeAsync();

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"DisposeAsync took {clock.Elapsed}");
        await Assert.ThrowsAnyAsync<Exception>(() => held); // the held request was cut off
    }

    [Fact]
    public async Task Token_LivesAtLeastAsLongAsItsAdvertisedExpiresIn()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { TimeProvider = time, TokenLifetime = TimeSpan.FromSeconds(1.5) });
        using HttpResponseMessage tokenResponse = await RequestTokenAsync(m3ter);
        using JsonDocument body = JsonDocument.Parse(await tokenResponse.Content.ReadAsStringAsync());
        long expiresIn = body.RootElement.GetProperty("expires_in").GetInt64();
        string token = body.RootElement.GetProperty("access_token").GetString()!;

        Assert.Equal(2, expiresIn);
        time.Advance(TimeSpan.FromSeconds(1.6));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, Config(m3ter), token)).StatusCode);
        time.Advance(TimeSpan.FromSeconds(0.39));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, Config(m3ter), token)).StatusCode); // 1.99 s: still advertised
        time.Advance(TimeSpan.FromSeconds(0.01));
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Get, Config(m3ter), token)).StatusCode);
    }

    [Fact]
    public async Task SlowFault_WaitsOnTheEmulatorsClock()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { TimeProvider = time });
        m3ter.EnqueueTokenFault(M3terFault.Slow(TimeSpan.FromMinutes(5)));

        Task<HttpResponseMessage> slow = RequestTokenAsync(m3ter);
        M3terRecordedRequest inFlight = (await WaitForAsync(m3ter, r => r.Kind == M3terRequestKind.Token)).Single();
        Assert.Null(inFlight.StatusCode); // in flight: no status yet (0 would mean a dropped connection)
        Assert.False(slow.IsCompleted);

        // The request is recorded before its fault's delay starts on the emulator's clock: on a busy machine the first
        // advance can come before that delay exists. Only advancing the clock ends it; real time never does.
        for (int i = 0; i < 300 && !slow.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromMinutes(5));
            await Task.WhenAny(slow, Task.Delay(50));
        }

        using HttpResponseMessage response = await slow;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(200, inFlight.StatusCode);
    }

    private static async Task<M3terRecordedRequest[]> WaitForAsync(M3terEmulator m3ter, Func<M3terRecordedRequest, bool> predicate)
    {
        for (int i = 0; i < 500; i++)
        {
            M3terRecordedRequest[] found = m3ter.Requests.Where(predicate).ToArray();
            if (found.Length > 0)
            {
                return found;
            }

            await Task.Delay(10);
        }

        throw new TimeoutException("no such request within 5 s");
    }

    [Fact]
    public async Task Recording_IsBounded_KeepsTheLatestRequests()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { MaxRecordedRequests = 5, RateLimitPerSecond = null });
        string token = await TokenAsync(m3ter);

        for (int i = 0; i < 20; i++)
        {
            (await SendAsync(HttpMethod.Get, Config(m3ter, "/products?page=" + i), token)).Dispose();
        }

        IReadOnlyList<M3terRecordedRequest> kept = m3ter.Requests;
        Assert.Equal(5, kept.Count);
        Assert.Equal("/organizations/" + m3ter.OrganizationId + "/products?page=19", kept[^1].Path);
        Assert.Equal(21, m3ter.TokenRequestCount + m3ter.ApiRequestCount); // the counters still count everything
    }

    [Fact]
    public async Task ExpiredTokens_ArePruned_SoALongRunsMapsStaySmall()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { TimeProvider = time, TokenLifetime = TimeSpan.FromSeconds(1), RateLimitPerSecond = null, RecordRequests = false });
        for (int i = 0; i < 64; i++)
        {
            await TokenAsync(m3ter);
        }

        time.Advance(TimeSpan.FromMinutes(2));
        for (int i = 0; i < 64; i++)
        {
            await TokenAsync(m3ter);
        }

        Assert.Equal(128, m3ter.TokensIssued);
        Assert.InRange(m3ter.IssuedTokens.Count, 64, 64); // the first 64 expired over a minute ago and were forgotten
    }

    [Fact]
    public async Task Reset_ClearsRequestsCountersFaultsDeniedPathsAndRevocations_ForASharedFixture()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        string token = await TokenAsync(m3ter);
        m3ter.DenyPermission("/products");
        m3ter.RevokeToken(token);
        m3ter.EnqueueTokenFault(M3terFault.Status(HttpStatusCode.BadGateway));
        m3ter.EnqueueApiFault(M3terRequestKind.Config, M3terFault.Status(HttpStatusCode.BadGateway));
        m3ter.PersistentTokenFault = M3terFault.Status(HttpStatusCode.BadGateway);
        m3ter.TransientTokenFailureRate = 1;

        m3ter.Reset();

        Assert.Empty(m3ter.Requests);
        Assert.Equal(0, m3ter.TokenRequestCount + m3ter.ApiRequestCount + m3ter.TokensIssued);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, Config(m3ter, "/products"), token)).StatusCode); // not denied, not revoked, no fault
        Assert.Equal(HttpStatusCode.OK, (await RequestTokenAsync(m3ter)).StatusCode);
    }

    [Fact]
    public async Task Reset_RestoresTheTokenLifetimeTheInitialCredentialsAndTheSeededRandomFailures()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RandomSeed = 7, RateLimitPerSecond = null });
        async Task<string> Outcomes()
        {
            var outcomes = new StringBuilder();
            for (int i = 0; i < 16; i++)
            {
                using HttpResponseMessage response = await RequestTokenAsync(m3ter);
                outcomes.Append(response.IsSuccessStatusCode ? '+' : '-');
            }

            return outcomes.ToString();
        }

        m3ter.TransientTokenFailureRate = 0.5;
        string pattern = await Outcomes();
        m3ter.TokenLifetime = TimeSpan.FromSeconds(5);
        m3ter.AddCredentials("added-key", "added-secret-0123456789");
        m3ter.RemoveCredentials(m3ter.AccessKeyId);

        m3ter.Reset();

        using (HttpResponseMessage added = await RequestTokenAsync(m3ter, "added-key", "added-secret-0123456789"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, added.StatusCode); // the added key is gone
        }

        using (HttpResponseMessage restored = await RequestTokenAsync(m3ter))
        {
            Assert.Equal(HttpStatusCode.OK, restored.StatusCode); // the initial key works again
            using JsonDocument body = JsonDocument.Parse(await restored.Content.ReadAsStringAsync());
            Assert.Equal(5 * 60 * 60, body.RootElement.GetProperty("expires_in").GetInt32()); // the 5-hour default again
        }

        m3ter.Reset();
        m3ter.TransientTokenFailureRate = 0.5;
        Assert.Equal(pattern, await Outcomes()); // the same random failures as after the start
    }

    [Fact]
    public async Task Counters_CountRateLimitedAndFaultedRequests_AndEveryTokenlessOne()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { TimeProvider = time, RateLimitPerSecond = 2 });
        string token = await TokenAsync(m3ter);
        (await SendAsync(HttpMethod.Get, Config(m3ter, "/meters"), token)).Dispose(); // the API host's 2 are used up

        using HttpResponseMessage limitedToken = await RequestTokenAsync(m3ter);
        using HttpResponseMessage limitedTokenless = await Http.GetAsync(Config(m3ter, "/meters")).WaitAsync(NoHang);
        m3ter.EnqueueApiFault(M3terRequestKind.Ingest, M3terFault.Status(HttpStatusCode.BadGateway));
        using HttpResponseMessage faultedTokenless = await Http.PostAsync(Measurements(m3ter), new StringContent("{}")).WaitAsync(NoHang);

        Assert.Equal(HttpStatusCode.TooManyRequests, limitedToken.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, limitedTokenless.StatusCode);
        Assert.Equal(HttpStatusCode.BadGateway, faultedTokenless.StatusCode);
        Assert.Equal(2, m3ter.TokenRequestCount);
        Assert.Equal(3, m3ter.ApiRequestCount);
        Assert.Equal(2, m3ter.ApiRequestsWithoutTokenCount);
    }

    [Fact]
    public async Task Ingest_IsExactlyOnePath_AnythingAroundItIs404()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        string token = await TokenAsync(m3ter);
        string body = "{\"measurements\":[" + Measurement("u") + "]}";

        using HttpResponseMessage nested = await SendAsync(HttpMethod.Post, new Uri(m3ter.IngestBaseAddress, $"organizations/{m3ter.OrganizationId}/extra/measurements"), token, body);
        using HttpResponseMessage prefixed = await SendAsync(HttpMethod.Post, new Uri(m3ter.IngestBaseAddress, $"v2/organizations/{m3ter.OrganizationId}/measurements"), token, body);
        using HttpResponseMessage exact = await SendAsync(HttpMethod.Post, Measurements(m3ter), token, body);

        Assert.Equal(HttpStatusCode.NotFound, nested.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, prefixed.StatusCode);
        Assert.Equal(HttpStatusCode.OK, exact.StatusCode);
        Assert.Single(m3ter.Measurements);
    }

    [Fact]
    public async Task WaitForRequestsAsync_WithRecordingOff_SaysSo_InsteadOfTimingOut()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RecordRequests = false });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => m3ter.WaitForRequestsAsync(_ => true, 1, TimeSpan.FromSeconds(30)));
        Assert.Contains("RecordRequests", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_OnAPortInUse_Throws_AndLeavesNothingListening()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int busy = ((IPEndPoint)taken.LocalEndpoint).Port;
        int free = FreePort();

        await Assert.ThrowsAnyAsync<Exception>(() => M3terEmulator.StartAsync(new M3terEmulatorOptions { ApiPort = free, IngestPort = busy }));

        using var again = new System.Net.Sockets.TcpListener(IPAddress.Loopback, free);
        again.Start(); // the API port it did open was closed again
        again.Stop();
    }

    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Counters_IssuedTokensAndTokensIssuedAgree_AndClearRequestsResetsCounters()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        m3ter.CreatePreIssuedToken(TimeSpan.FromHours(1));
        string issued = await TokenAsync(m3ter);
        (await SendAsync(HttpMethod.Get, Config(m3ter), issued)).Dispose();

        Assert.Equal(1, m3ter.TokensIssued);
        Assert.Equal(new[] { issued }, m3ter.IssuedTokens);

        m3ter.ClearRequests();

        Assert.Empty(m3ter.Requests);
        Assert.Equal(0, m3ter.TokenRequestCount);
        Assert.Equal(0, m3ter.ApiRequestCount);
        Assert.Equal(0, m3ter.TokensIssued);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(2)]
    [InlineData(double.NaN)]
    public async Task TransientTokenFailureRate_OutOfRange_IsRefused(double rate)
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();

        Assert.Throws<ArgumentOutOfRangeException>(() => m3ter.TransientTokenFailureRate = rate);
    }

    [Fact]
    public async Task TransientTokenFailureRate_WithASeed_FailsTheSameRequestsEveryRun()
    {
        async Task<string> Run()
        {
            await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RandomSeed = 42, RateLimitPerSecond = null });
            m3ter.TransientTokenFailureRate = 0.5;
            var outcomes = new StringBuilder();
            for (int i = 0; i < 20; i++)
            {
                using HttpResponseMessage response = await RequestTokenAsync(m3ter);
                outcomes.Append(response.IsSuccessStatusCode ? '+' : '-');
            }

            return outcomes.ToString();
        }

        string first = await Run();
        Assert.Equal(first, await Run());
        Assert.Contains("+", first, StringComparison.Ordinal);
        Assert.Contains("-", first, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidTokenStatusCode401_SaysUnauthorized_AndSendsWwwAuthenticate()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        m3ter.InvalidTokenStatusCode = HttpStatusCode.Unauthorized;

        using HttpResponseMessage response = await SendAsync(HttpMethod.Get, Config(m3ter), "not-a-token");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.StartsWith("Unauthorized", await MessageOf(response), StringComparison.Ordinal);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
    }

    [Fact]
    public async Task DenyPermission_MatchesWholeSegments_AndCanBeUndone()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        string token = await TokenAsync(m3ter);

        m3ter.DenyPermission("/plans");

        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Get, Config(m3ter, "/plans"), token)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Get, Config(m3ter, "/plans/p-1"), token)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, Config(m3ter, "/planTemplates"), token)).StatusCode);
        m3ter.AllowPermission("/plans");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, Config(m3ter, "/plans"), token)).StatusCode);
    }

    // ---- Faithful to m3ter ----

    [Fact]
    public async Task IngestAndConfig_AreSeparateHosts_EachRefusingTheOthersCalls()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        string token = await TokenAsync(m3ter);
        string body = "{\"measurements\":[" + Measurement("u-1") + "]}";

        Assert.NotEqual(m3ter.BaseAddress, m3ter.IngestBaseAddress);
        using HttpResponseMessage toApiHost = await SendAsync(HttpMethod.Post, new Uri(m3ter.BaseAddress, $"organizations/{m3ter.OrganizationId}/measurements"), token, body);
        Assert.Equal(HttpStatusCode.NotFound, toApiHost.StatusCode);
        Assert.Contains("ingest host", await MessageOf(toApiHost), StringComparison.Ordinal);
        using HttpResponseMessage configToIngest = await SendAsync(HttpMethod.Get, new Uri(m3ter.IngestBaseAddress, $"organizations/{m3ter.OrganizationId}/products"), token);
        Assert.Equal(HttpStatusCode.NotFound, configToIngest.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, Measurements(m3ter), token, body)).StatusCode);

        var options = new M3terAuthOptions();
        m3ter.Configure(options);
        Assert.Equal(m3ter.IngestBaseAddress, options.IngestBaseAddress);
    }

    [Fact]
    public async Task RateLimit_FiftyRequestsASecondPerApi_Answers429WithRetryAfter_AndCanBeTurnedOff()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { TimeProvider = time });
        string token = await TokenAsync(m3ter); // the token request counts against the API host's 50

        var statuses = new List<HttpStatusCode>();
        for (int i = 0; i < 55; i++)
        {
            using HttpResponseMessage response = await SendAsync(HttpMethod.Get, Config(m3ter, "/meters"), token);
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                Assert.Equal(TimeSpan.FromSeconds(1), response.Headers.RetryAfter!.Delta);
            }
        }

        Assert.Equal(49, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(6, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, Measurements(m3ter), token, "{\"measurements\":[" + Measurement("u") + "]}")).StatusCode); // ingest has its own 50
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, Config(m3ter, "/meters"), token)).StatusCode);

        await using M3terEmulator unlimited = await M3terEmulator.StartAsync(new M3terEmulatorOptions { TimeProvider = time, RateLimitPerSecond = null });
        string other = await TokenAsync(unlimited);
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, Config(unlimited, "/meters"), other)).StatusCode);
        }
    }

    [Theory]
    [InlineData("{\"meter\":\"m\",\"account\":\"a\",\"ts\":\"2026-11-28T12:00:00Z\"}", "measurements[0].uid is required")]
    [InlineData("{\"uid\":7,\"meter\":\"m\",\"account\":\"a\",\"ts\":\"2026-11-28T12:00:00Z\"}", "measurements[0].uid must be a non-empty string, but it is a number")]
    [InlineData("{\"uid\":\"u\",\"account\":\"a\",\"ts\":\"2026-11-28T12:00:00Z\"}", "measurements[0].meter is required")]
    [InlineData("{\"uid\":\"u\",\"meter\":\"m\",\"ts\":\"2026-11-28T12:00:00Z\"}", "measurements[0].account is required")]
    [InlineData("{\"uid\":\"u\",\"meter\":\"m\",\"account\":\"a\"}", "measurements[0].ts is required")]
    [InlineData("{\"uid\":\"u\",\"meter\":\"m\",\"account\":\"a\",\"ts\":\"yesterday\"}", "measurements[0].ts must be an ISO 8601 date and time")]
    [InlineData("{\"uid\":\"u\",\"meter\":\"m\",\"account\":\"a\",\"ts\":\"2026-11-28\"}", "measurements[0].ts must be an ISO 8601 date and time")]
    [InlineData("{\"uid\":\"u\",\"meter\":\"m\",\"account\":\"a\",\"ts\":\"11/28/2026 12:00:00\"}", "measurements[0].ts must be an ISO 8601 date and time")]
    [InlineData("{\"uid\":\"u\",\"meter\":\"m\",\"account\":\"a\",\"ts\":\"Sat, 28 Nov 2026 12:00:00 GMT\"}", "measurements[0].ts must be an ISO 8601 date and time")]
    [InlineData("{\"uid\":\"u\",\"meter\":\"m\",\"account\":\"a\",\"ts\":\"2026-11-28T12:00:00Z trailing\"}", "measurements[0].ts must be an ISO 8601 date and time")]
    [InlineData("{\"uid\":\"u\",\"meter\":\"m\",\"account\":\"a\",\"ts\":\"2026-11-28T12:00:00Z\\n\"}", "measurements[0].ts must be an ISO 8601 date and time")]
    [InlineData("{\"uid\":\"u\",\"meter\":\"m\",\"account\":\"a\",\"ts\":\"2026-11-28T12:00:00Z\",\"measure\":{\"n\":\"1\"}}", "measurements[0].measure must be an object of numbers")]
    [InlineData("{\"uid\":\"u\",\"meter\":\"m\",\"account\":\"a\",\"ts\":\"2026-11-28T12:00:00Z\",\"who\":{\"user\":3}}", "measurements[0].who must be an object of strings")]
    [InlineData("17", "measurements[0] must be an object")]
    public async Task Ingest_InvalidMeasurement_Is400NamingTheField(string measurement, string expected)
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();

        using HttpResponseMessage response = await SendAsync(HttpMethod.Post, Measurements(m3ter), await TokenAsync(m3ter), "{\"measurements\":[" + measurement + "]}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.StartsWith(expected, await MessageOf(response), StringComparison.Ordinal);
        Assert.Empty(m3ter.Measurements);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1001)]
    public async Task Ingest_ZeroOrOverAThousandMeasurements_Is400(int count)
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        string body = "{\"measurements\":[" + string.Join(",", Enumerable.Range(0, count).Select(i => Measurement("u" + i))) + "]}";

        using HttpResponseMessage response = await SendAsync(HttpMethod.Post, Measurements(m3ter), await TokenAsync(m3ter), body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("1 to 1000 measurements", await MessageOf(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ingest_PayloadOverTheLimit_GetsM3tersAnswer_NotKestrels413_AndIsRecorded()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        string body = "{\"measurements\":[" + Measurement("big", extra: ",\"what\":{\"pad\":\"" + new string('x', 6_000_000) + "\"}") + "]}";

        using HttpResponseMessage response = await SendAsync(HttpMethod.Post, Measurements(m3ter), await TokenAsync(m3ter), body);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("larger than 512000 bytes", await MessageOf(response), StringComparison.Ordinal);
        M3terRecordedRequest recorded = Assert.Single(m3ter.Requests, r => r.Kind == M3terRequestKind.Ingest);
        Assert.Equal(403, recorded.StatusCode);
        Assert.Equal(M3terEmulator.MaxIngestPayloadBytes + 1, recorded.Body.Length); // its first bytes only
    }

    [Fact]
    public async Task StrictEndpoints_TokenEndpointIsPostOnly_UnknownConfigPathsAre404()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        string token = await TokenAsync(m3ter);

        using HttpResponseMessage get = await RequestTokenAsync(m3ter, method: HttpMethod.Get);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        Assert.Contains("POST", get.Content.Headers.Allow);
        using HttpResponseMessage unknown = await SendAsync(HttpMethod.Get, Config(m3ter, "/nonsense"), token);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("not a config API resource", await MessageOf(unknown), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, Config(m3ter, "/products"), token)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, Config(m3ter, "/products/no-such-id"), token)).StatusCode);
    }

    [Fact]
    public async Task ApiFaults_HitTheConfigOrTheIngestApi()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        string token = await TokenAsync(m3ter);
        m3ter.EnqueueApiFault(M3terRequestKind.Config, M3terFault.RetryAfterSeconds(HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(2)));
        m3ter.EnqueueApiFault(M3terRequestKind.Ingest, M3terFault.Status(HttpStatusCode.BadGateway, "<html>bad gateway</html>", "text/html"));

        using HttpResponseMessage config = await SendAsync(HttpMethod.Get, Config(m3ter), token);
        using HttpResponseMessage ingest = await SendAsync(HttpMethod.Post, Measurements(m3ter), token, "{\"measurements\":[" + Measurement("u") + "]}");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, config.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(2), config.Headers.RetryAfter!.Delta);
        Assert.Equal(HttpStatusCode.BadGateway, ingest.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, Config(m3ter), token)).StatusCode); // used once each
        Assert.Throws<ArgumentException>(() => m3ter.EnqueueApiFault(M3terRequestKind.Token, M3terFault.Reset()));
    }

    [Fact]
    public async Task TokenFaultsAndRevocations_CanBeAimedAtOneAccessKey()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        m3ter.AddCredentials("client-b", "secret-b");
        m3ter.EnqueueTokenFault(M3terFault.Status(HttpStatusCode.ServiceUnavailable), accessKeyId: "client-b");

        Assert.Equal(HttpStatusCode.OK, (await RequestTokenAsync(m3ter)).StatusCode);                            // client A is not hit
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await RequestTokenAsync(m3ter, "client-b", "secret-b")).StatusCode);
        string a = await TokenAsync(m3ter);
        string b = await TokenAsync(m3ter, "client-b", "secret-b");

        Assert.Equal(1, m3ter.RevokeTokensOf("client-b"));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, Config(m3ter), a)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Get, Config(m3ter), b)).StatusCode);
    }

    // ---- For users ----

    [Fact]
    public async Task WaitForRequestsAsync_AndMeasurements_LetATestCheckThatEveryMeasurementArrivedExactlyOnce()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        var services = new ServiceCollection();
        services.AddM3terAuth(m3ter.Configure);
        services.AddHttpClient("ingest", c => c.BaseAddress = m3ter.IngestBaseAddress).AddM3terAuthHandler();
        await using ServiceProvider sp = services.BuildServiceProvider();
        HttpClient ingest = sp.GetRequiredService<IHttpClientFactory>().CreateClient("ingest");

        Task sending = Task.WhenAll(Enumerable.Range(0, 3).Select(batch => ingest.PostAsync(
            new Uri($"organizations/{m3ter.OrganizationId}/measurements", UriKind.Relative),
            new StringContent("{\"measurements\":[" + string.Join(",", Enumerable.Range(0, 10).Select(i => Measurement($"b{batch}-{i}"))) + "]}", Encoding.UTF8, "application/json"))));
        IReadOnlyList<M3terRecordedRequest> batches = await m3ter.WaitForRequestsAsync(r => r.Kind == M3terRequestKind.Ingest, 3, NoHang);
        await sending;

        Assert.All(batches, b => Assert.Equal(200, b.StatusCode));
        Assert.Equal(30, m3ter.Measurements.Count);
        Assert.Equal(30, m3ter.Measurements.Select(m => m.Uid).Distinct().Count());
        Assert.All(m3ter.Measurements, m => Assert.Equal("api-calls", m.Meter));
        Assert.Equal(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero), m3ter.Measurements[0].Timestamp);
        await Assert.ThrowsAsync<TimeoutException>(() => m3ter.WaitForRequestsAsync(r => r.Kind == M3terRequestKind.Ingest, 4, TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task ConfigurationValues_ConfigureAnyClient_WithoutM3terAuthOptions()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        IConfiguration config = new ConfigurationBuilder().AddInMemoryCollection(m3ter.ConfigurationValues).Build();
        var services = new ServiceCollection();
        services.AddSingleton(config);
        services.AddM3terAuth(); // reads the M3ter section: both hosts, the key, the secret, the organization
        services.AddHttpClient("ingest", (sp, c) => c.BaseAddress = new Uri(config["M3ter:IngestBaseAddress"]!)).AddM3terAuthHandler();
        await using ServiceProvider sp = services.BuildServiceProvider();

        using HttpResponseMessage response = await sp.GetRequiredService<IHttpClientFactory>().CreateClient("ingest")
            .PostAsync(new Uri($"organizations/{config["M3ter:OrganizationId"]}/measurements", UriKind.Relative), new StringContent("{\"measurements\":[" + Measurement("c") + "]}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(new[] { "M3TER_API_KEY", "M3TER_API_SECRET", "M3TER_BASE_URL", "M3TER_INGEST_URL", "M3TER_ORG_ID" }, m3ter.EnvironmentVariables.Keys.Order());
    }
}
