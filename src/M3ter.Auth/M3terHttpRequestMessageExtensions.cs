using System;
using System.Net.Http;

namespace M3ter.Auth;

/// <summary>Tags a request with the tenant whose m3ter credentials it is sent with (<c>AddM3terTenantAuthHandler()</c>).</summary>
public static class M3terHttpRequestMessageExtensions
{
    /// <summary>The key of the tenant in the request's options (<c>HttpRequestMessage.Options</c>, or <c>Properties</c> before .NET 5).</summary>
    internal const string TenantKey = "M3ter.Auth.Tenant";

#if NET5_0_OR_GREATER
    private static readonly HttpRequestOptionsKey<string> Key = new(TenantKey);
#endif

    /// <summary>Sends <paramref name="request"/> with the token of <paramref name="tenant"/>, through a client with <c>AddM3terTenantAuthHandler()</c>.</summary>
    /// <param name="request">The request.</param>
    /// <param name="tenant">The tenant, as the <see cref="IM3terCredentialSource"/> knows it.</param>
    /// <returns><paramref name="request"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> or <paramref name="tenant"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="tenant"/> is empty.</exception>
    public static HttpRequestMessage WithM3terTenant(this HttpRequestMessage request, string tenant)
    {
        if (request is null)
        {
            throw new ArgumentNullException(nameof(request));
        }

        if (tenant is null)
        {
            throw new ArgumentNullException(nameof(tenant));
        }

        if (tenant.Length == 0)
        {
            throw new ArgumentException("The m3ter tenant must not be empty.", nameof(tenant));
        }

#if NET5_0_OR_GREATER
        request.Options.Set(Key, tenant);
#else
        request.Properties[TenantKey] = tenant;
#endif
        return request;
    }

    /// <summary>Returns the tenant <paramref name="request"/> was tagged with by <see cref="WithM3terTenant"/>, or <see langword="null"/>.</summary>
    /// <param name="request">The request.</param>
    /// <returns>The tenant, or <see langword="null"/> when the request has none.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is null.</exception>
    public static string? GetM3terTenant(this HttpRequestMessage request)
    {
        if (request is null)
        {
            throw new ArgumentNullException(nameof(request));
        }

        return TenantOf(request);
    }

    /// <summary>The tenant of a request known not to be null: the handler's warm path.</summary>
    internal static string? TenantOf(HttpRequestMessage request) =>
#if NET5_0_OR_GREATER
        request.Options.TryGetValue(Key, out string? tenant) ? tenant : null;
#else
        request.Properties.TryGetValue(TenantKey, out object? tenant) ? tenant as string : null;
#endif
}
