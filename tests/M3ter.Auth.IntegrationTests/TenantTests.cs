using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace M3ter.Auth.IntegrationTests;

/// <summary>
/// Many m3ter organizations through one registration, over real sockets: the emulator knows a key per organization
/// and accepts a token only under its own organization's path; the test also records which organization every
/// token it saw issued belongs to, and checks each request that leaves the handler against it.
/// </summary>
public sealed class TenantTests : IAsyncLifetime
{
    private readonly ConcurrentDictionary<string, M3terCredentials> _store = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _lookups = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _orgOfToken = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _orgOfKey = new(StringComparer.Ordinal);
    private int _crossed;
    private int _withoutToken;
    private M3terEmulator _m3ter = null!;
    private ServiceProvider _services = null!;

    public async Task InitializeAsync() => _m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });

    public async Task DisposeAsync()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        await _m3ter.DisposeAsync();
    }

    [Fact]
    public async Task UnderChurn_EveryCallCarriesItsOwnOrganizationsToken_AndNoneFails()
    {
        AddTenants(200);
        Build(maxTenants: 16);
        HttpClient client = Client;
        int calls = 0, failed = 0;
        var failures = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));

        // Every 300 ms every token older than 2 s is revoked (the recovery's fresh token is never that old).
        Task revoker = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(300);
                _m3ter.RevokeTokensOlderThan(TimeSpan.FromSeconds(2));
            }
        });
        Task[] workers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            while (!stop.IsCancellationRequested)
            {
                int n = random.Next(200);
                try
                {
                    using HttpResponseMessage response = await client.SendAsync(Request("tenant-" + n, $"organizations/org-{n}/products"));
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref failed);
                        failures.Enqueue($"tenant-{n}: {(int)response.StatusCode}");
                    }
                }
                catch (Exception ex)
                {
                    Interlocked.Increment(ref failed);
                    failures.Enqueue($"tenant-{n}: {ex.GetType().Name}: {ex.Message}");
                }

                Interlocked.Increment(ref calls);
            }
        })).ToArray();
        await Task.WhenAll(workers);
        await revoker;

        Assert.True(calls > 200, $"only {calls} calls were made");
        Assert.True(failed == 0, $"{failed} of {calls} calls failed: " + string.Join("; ", failures.Take(5)));
        Assert.Equal(0, Volatile.Read(ref _crossed));
        Assert.Equal(0, Volatile.Read(ref _withoutToken));
        Assert.Equal(0, _m3ter.ApiRequestsWithoutTokenCount);
    }

    [Fact]
    public async Task HundredColdCallersOfTwoTenants_MakeExactlyOneTokenRequestEach()
    {
        AddTenants(2);
        Build(maxTenants: 100);
        HttpClient client = Client;
        using var start = new ManualResetEventSlim();
        Task<HttpResponseMessage>[] calls = Enumerable.Range(0, 200).Select(i => Task.Run(() =>
        {
            start.Wait();
            int n = i % 2;
            return client.SendAsync(Request("tenant-" + n, $"organizations/org-{n}/products"));
        })).ToArray();
        start.Set();
        HttpResponseMessage[] responses = await Task.WhenAll(calls);

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(2, _m3ter.TokenRequestCount);
        Assert.Equal(1, _lookups["tenant-0"]);
        Assert.Equal(1, _lookups["tenant-1"]);
        Assert.Equal(0, Volatile.Read(ref _crossed));
    }

    [Fact]
    public async Task AKeyRotatedInTheStore_AndDeactivatedAtM3ter_FailsNoCall()
    {
        AddTenants(1);
        Build(maxTenants: 10);
        HttpClient client = Client;
        using (HttpResponseMessage first = await client.SendAsync(Request("tenant-0", "organizations/org-0/products")))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        // The customer generates a new key, stores it, and deactivates the old one (its tokens stop working).
        _m3ter.AddCredentials("key-0-rotated", "secret-0-rotated", "org-0");
        _orgOfKey["key-0-rotated"] = "org-0";
        _store["tenant-0"] = Credentials("key-0-rotated", "secret-0-rotated", "org-0");
        _m3ter.RemoveCredentials("key-0");
        _m3ter.RevokeTokensOf("key-0");

        using HttpResponseMessage next = await client.SendAsync(Request("tenant-0", "organizations/org-0/products"));

        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal(2, _lookups["tenant-0"]);
    }

    [Fact]
    public async Task RequestsWithoutATenant_OrForAnotherHost_GetNoTokenAndCauseNoTokenRequest()
    {
        AddTenants(1);
        Build(maxTenants: 10);
        HttpClient client = Client;

        var ex = await Assert.ThrowsAsync<M3terAuthException>(() => client.SendAsync(new HttpRequestMessage(HttpMethod.Get, new Uri(_m3ter.BaseAddress, "organizations/org-0/products"))));
        Assert.Contains("WithM3terTenant", ex.Message, StringComparison.Ordinal);

        string? authorization = "(no request)";
        await using var elsewhere = await LoopbackServer.StartAsync(context =>
        {
            authorization = context.Request.Headers.Authorization.Count == 0 ? null : context.Request.Headers.Authorization.ToString();
            return Task.CompletedTask;
        });
        var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{elsewhere.Port}/organizations/org-0/products").WithM3terTenant("tenant-0");
        using HttpResponseMessage response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(authorization);
        Assert.Equal(0, _m3ter.TokenRequestCount);
        Assert.Equal(0, _m3ter.ApiRequestCount);
    }

    private HttpClient Client => _services.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");

    private HttpRequestMessage Request(string tenant, string path) =>
        new HttpRequestMessage(HttpMethod.Get, new Uri(_m3ter.BaseAddress, path)).WithM3terTenant(tenant);

    private M3terCredentials Credentials(string key, string secret, string org) =>
        new(key, secret) { OrganizationId = org, BaseAddress = _m3ter.BaseAddress, IngestBaseAddress = _m3ter.IngestBaseAddress };

    private void AddTenants(int count)
    {
        for (int i = 0; i < count; i++)
        {
            _m3ter.AddCredentials("key-" + i, "secret-" + i, "org-" + i);
            _orgOfKey["key-" + i] = "org-" + i;
            _store["tenant-" + i] = Credentials("key-" + i, "secret-" + i, "org-" + i);
        }
    }

    private void Build(int maxTenants)
    {
        var services = new ServiceCollection();
        services.AddM3terAuthTenants(
            (tenant, _) =>
            {
                _lookups.AddOrUpdate(tenant, 1, (_, n) => n + 1);
                return new ValueTask<M3terCredentials?>(_store.TryGetValue(tenant, out M3terCredentials? c) ? c : null);
            },
            o =>
            {
                o.MaxTenants = maxTenants;
                o.RetryDelay = TimeSpan.FromMilliseconds(10);
            });
        services.AddHttpClient(TokenClient.HttpClientName).AddHttpMessageHandler(() => new TokenRecorder(this));
        services.AddHttpClient("m3ter").AddM3terTenantAuthHandler().AddHttpMessageHandler(() => new OrganizationCheck(this));
        _services = services.BuildServiceProvider();
    }

    /// <summary>On the token client: notes the organization of every token issued, by the key that asked for it.</summary>
    private sealed class TokenRecorder(TenantTests test) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            string basic = Encoding.UTF8.GetString(Convert.FromBase64String(request.Headers.Authorization!.Parameter!));
            string key = basic[..basic.IndexOf(':')];
            HttpResponseMessage response = await base.SendAsync(request, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                await response.Content.LoadIntoBufferAsync(cancellationToken);
                using JsonDocument body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
                test._orgOfToken[body.RootElement.GetProperty("access_token").GetString()!] = test._orgOfKey[key];
            }

            return response;
        }
    }

    /// <summary>Below the auth handler: every request that leaves carries a token of the organization in its path.</summary>
    private sealed class OrganizationCheck(TenantTests test) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            string[] segments = request.RequestUri!.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
            if (request.Headers.Authorization?.Parameter is not string token)
            {
                if (request.RequestUri.Port == test._m3ter.BaseAddress.Port)
                {
                    Interlocked.Increment(ref test._withoutToken);
                }
            }
            else if (!test._orgOfToken.TryGetValue(token, out string? org) || segments.Length < 2 || org != segments[1])
            {
                Interlocked.Increment(ref test._crossed);
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
