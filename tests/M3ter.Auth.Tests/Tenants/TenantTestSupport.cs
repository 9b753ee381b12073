using System;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace M3ter.Auth.Tests.Tenants;

/// <summary>
/// An in-memory m3ter for many organizations: a token endpoint that checks Basic credentials against the keys it
/// knows and issues tokens that name their organization, and an API that answers 200 only when the token's
/// organization is the one in the path (403 otherwise, or 401 without a token), counting everything.
/// </summary>
internal sealed class FakeOrganizations
{
    private readonly ConcurrentDictionary<string, (string Secret, string Org)> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _tokenRequestsByKey = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _revoked = new(StringComparer.Ordinal);
    private int _tokens;
    private int _tokenRequests;
    private int _crossed;
    private int _withoutToken;
    private int _apiCalls;

    public FakeOrganizations(TimeProvider time) => Time = time;

    public TimeProvider Time { get; }

    public static Uri Api { get; } = new("https://api.m3ter.com/");

    public static Uri Ingest { get; } = new("https://ingest.m3ter.com/");

    public int TokenRequests => Volatile.Read(ref _tokenRequests);

    public int CrossedCalls => Volatile.Read(ref _crossed);

    public int CallsWithoutToken => Volatile.Read(ref _withoutToken);

    public int ApiCalls => Volatile.Read(ref _apiCalls);

    /// <summary>When set, token requests wait for it.</summary>
    public TaskCompletionSource? Gate { get; set; }

    public void AddKey(string key, string secret, string org)
    {
        _keys[key] = (secret, org);
        _tokenRequestsByKey.TryAdd(key, 0); // counted from here, so the count's own entry is not allocated by a request
    }

    public void RemoveKey(string key) => _keys.TryRemove(key, out _);

    public int TokenRequestsWith(string key) => _tokenRequestsByKey.TryGetValue(key, out int n) ? n : 0;

    public void Revoke(string token) => _revoked[token] = true;

    public static string OrgOf(string token) => token.Split('.')[0];

    public HttpMessageHandler TokenEndpoint() => new Handler(async (request, ct) =>
    {
        Interlocked.Increment(ref _tokenRequests);
        string basic = Encoding.UTF8.GetString(Convert.FromBase64String(request.Headers.Authorization!.Parameter!));
        string key = basic[..basic.IndexOf(':')];
        string secret = basic[(basic.IndexOf(':') + 1)..];
        _tokenRequestsByKey.AddOrUpdate(key, 1, (_, n) => n + 1);
        if (Gate is TaskCompletionSource gate)
        {
            await gate.Task.WaitAsync(ct);
        }

        if (!_keys.TryGetValue(key, out var known) || known.Secret != secret)
        {
            return new HttpResponseMessage(HttpStatusCode.Unauthorized) { Content = new StringContent("{\"error\":\"invalid_client\"}", Encoding.UTF8, "application/json") };
        }

        string token = known.Org + "." + key + "." + Interlocked.Increment(ref _tokens);
        return new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = new StringContent("{\"access_token\":\"" + token + "\",\"token_type\":\"Bearer\",\"expires_in\":18000}", Encoding.UTF8, "application/json"),
        };
    });

    /// <summary>m3ter's API hosts: <c>/organizations/{org}/…</c> answers 200 only to a token of that organization.</summary>
    public HttpMessageHandler ApiHosts() => new Handler((request, _) =>
    {
        Interlocked.Increment(ref _apiCalls);
        string[] segments = request.RequestUri!.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        string? pathOrg = segments.Length >= 2 && segments[0] == "organizations" ? segments[1] : null;
        if (request.Headers.Authorization is not { Scheme: "Bearer", Parameter: string token })
        {
            Interlocked.Increment(ref _withoutToken);
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.Unauthorized));
        }

        if (OrgOf(token) != pathOrg)
        {
            Interlocked.Increment(ref _crossed);
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.Forbidden));
        }

        return Task.FromResult(new HttpResponseMessage(_revoked.ContainsKey(token) ? HttpStatusCode.Forbidden : HttpStatusCode.OK) { RequestMessage = request });
    });

    private sealed class Handler(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> send) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => send(request, cancellationToken);

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) => send(request, cancellationToken).GetAwaiter().GetResult();
    }
}

/// <summary>A credential store the tests change under the library's feet, counting lookups per tenant.</summary>
internal sealed class FakeStore : IM3terCredentialSource
{
    private readonly ConcurrentDictionary<string, M3terCredentials> _tenants = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _lookups = new(StringComparer.Ordinal);
    private int _total;

    public int Lookups => Volatile.Read(ref _total);

    /// <summary>When set, lookups wait for it.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>When set, lookups throw it.</summary>
    public Exception? Failure { get; set; }

    public void Set(string tenant, string key, string secret, string? org = null)
    {
        _tenants[tenant] = new M3terCredentials(key, secret) { OrganizationId = org ?? tenant };
        _lookups.TryAdd(tenant, 0);
    }

    public void SetWithBaseAddress(string tenant, string key, string secret, Uri baseAddress) =>
        _tenants[tenant] = new M3terCredentials(key, secret) { OrganizationId = tenant, BaseAddress = baseAddress };

    public void Remove(string tenant) => _tenants.TryRemove(tenant, out _);

    public int LookupsOf(string tenant) => _lookups.TryGetValue(tenant, out int n) ? n : 0;

    public async ValueTask<M3terCredentials?> GetCredentialsAsync(string tenant, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _total);
        _lookups.AddOrUpdate(tenant, 1, (_, n) => n + 1);
        if (Gate is TaskCompletionSource gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }

        if (Failure is Exception failure)
        {
            throw failure;
        }

        return _tenants.TryGetValue(tenant, out M3terCredentials? credentials) ? credentials : null;
    }
}

/// <summary>A container with AddM3terAuthTenants over <see cref="FakeOrganizations"/> and a <see cref="FakeStore"/>, on a fake clock.</summary>
internal sealed class TenantHost : IDisposable
{
    public TenantHost(Action<M3terTenantOptions>? configure = null, int tenants = 0)
    {
        Time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
        M3ter = new FakeOrganizations(Time);
        for (int i = 0; i < tenants; i++)
        {
            Add("t" + i);
        }

        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(Time);
        services.AddSingleton(Store);
        services.AddM3terAuthTenants<FakeStore>(o =>
        {
            o.RetryDelay = TimeSpan.Zero;
            configure?.Invoke(o);
        });
        services.AddHttpClient(TokenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => M3ter.TokenEndpoint());
        services.AddHttpClient("m3ter").AddM3terTenantAuthHandler().ConfigurePrimaryHttpMessageHandler(() => M3ter.ApiHosts());
        Services = services.BuildServiceProvider();
    }

    public FakeTimeProvider Time { get; }

    public FakeOrganizations M3ter { get; }

    public FakeStore Store { get; } = new();

    public ServiceProvider Services { get; }

    public IM3terTenantTokenProvider Tokens => Services.GetRequiredService<IM3terTenantTokenProvider>();

    public HttpClient Client => Services.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");

    /// <summary>A tenant whose organization has its name, with a key and secret of its own in the store and at m3ter.</summary>
    public void Add(string tenant)
    {
        M3ter.AddKey("key-" + tenant, "secret-" + tenant, tenant);
        Store.Set(tenant, "key-" + tenant, "secret-" + tenant);
    }

    public Task<HttpResponseMessage> CallAsync(string tenant, string? pathOrg = null, Uri? host = null, CancellationToken cancellationToken = default) =>
        Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, new Uri(host ?? FakeOrganizations.Api, $"organizations/{pathOrg ?? tenant}/products")).WithM3terTenant(tenant), cancellationToken);

    public void Dispose() => Services.Dispose();
}
