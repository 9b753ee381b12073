using System;
using System.Collections.Concurrent;
using System.Globalization;
using System.Linq;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth;
using M3ter.Auth.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace ManyOrganizations;

/// <summary>
/// An integration platform that pushes each customer's usage into the customer's own m3ter organization, with the
/// customer's own access key, looked up from a store when a request needs it. Runs against the emulator, which
/// plays several organizations (each key's tokens are accepted under its own organization only).
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        int customers = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        var store = new CustomerStore();
        for (int i = 1; i <= customers; i++)
        {
            string org = "org-customer-" + i;
            m3ter.AddCredentials("key-customer-" + i, "secret-customer-" + i, org);
            store.Save("customer-" + i, new M3terCredentials("key-customer-" + i, "secret-customer-" + i)
            {
                OrganizationId = org,
                BaseAddress = m3ter.BaseAddress,
                IngestBaseAddress = m3ter.IngestBaseAddress,
            });
        }

        var services = new ServiceCollection();
        services.AddSingleton(store);

        #region snippet:many-organizations
        // One registration for every customer: credentials are looked up per tenant, at most MaxTenants are held.
        services.AddM3terAuthTenants<CustomerStore>(o => o.MaxTenants = 10_000);
        services.AddHttpClient("m3ter-ingest").AddM3terTenantAuthHandler();
        #endregion

        await using ServiceProvider provider = services.BuildServiceProvider();
        HttpClient ingest = provider.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter-ingest");
        Console.WriteLine($"M3ter.Auth for many organizations: {customers} customers, each with its own m3ter organization and key (emulator at {m3ter.BaseAddress})");

        int sent = 0, failed = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, customers * 4), async (n, ct) =>
        {
            string customer = "customer-" + (n % customers + 1);
            M3terCredentials credentials = store.Find(customer)!;

            #region snippet:tenant-request
            var request = new HttpRequestMessage(HttpMethod.Post, new Uri(credentials.IngestBaseAddress, $"organizations/{credentials.OrganizationId}/measurements"))
            {
                Content = new StringContent(Measurement(customer), Encoding.UTF8, "application/json"),
            }.WithM3terTenant(customer);
            using HttpResponseMessage response = await ingest.SendAsync(request, ct);
            #endregion

            Interlocked.Increment(ref response.IsSuccessStatusCode ? ref sent : ref failed);
        });

        Console.WriteLine($"  measurements sent: {sent}; failed: {failed}; token requests: {m3ter.TokenRequestCount} (one per organization); credential lookups: {store.Lookups}");
        return failed == 0 && m3ter.TokenRequestCount == customers ? 0 : 1;
    }

    private static string Measurement(string customer) => string.Create(
        CultureInfo.InvariantCulture,
        $"{{\"measurements\":[{{\"uid\":\"{Guid.NewGuid()}\",\"meter\":\"api-calls\",\"account\":\"{customer}\",\"ts\":\"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ}\",\"measure\":{{\"calls\":1}}}}]}}");
}

/// <summary>Where the customers' m3ter credentials live: a database or a vault in a real platform.</summary>
public sealed class CustomerStore : IM3terCredentialSource
{
    private readonly ConcurrentDictionary<string, M3terCredentials> _customers = new(StringComparer.Ordinal);
    private int _lookups;

    public int Lookups => Volatile.Read(ref _lookups);

    public void Save(string customer, M3terCredentials credentials) => _customers[customer] = credentials;

    public M3terCredentials? Find(string customer) => _customers.TryGetValue(customer, out M3terCredentials? c) ? c : null;

    public ValueTask<M3terCredentials?> GetCredentialsAsync(string tenant, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _lookups);
        return new ValueTask<M3terCredentials?>(Find(tenant));
    }
}
