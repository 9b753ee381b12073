using System;
using M3ter.Auth;
using M3ter.Auth.Internal;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds m3ter authentication to clients made by <see cref="System.Net.Http.IHttpClientFactory"/>.</summary>
public static class M3terAuthHttpClientBuilderExtensions
{
    /// <summary>
    /// Adds an <see cref="M3terAuthHandler"/> to the client, so its requests to m3ter's hosts carry a bearer token, and
    /// keeps the <c>Authorization</c> header out of the client's request logging.
    /// </summary>
    /// <param name="builder">The named or typed client.</param>
    /// <param name="name">The <c>AddM3terAuth</c> registration to use; the default registration when null.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    /// <exception cref="InvalidOperationException">Thrown when the client is created if <c>AddM3terAuth</c> was not called for <paramref name="name"/>.</exception>
    public static IHttpClientBuilder AddM3terAuthHandler(this IHttpClientBuilder builder, string? name = null)
    {
        if (builder is null)
        {
            throw new ArgumentNullException(nameof(builder));
        }

        string registrationName = name ?? Microsoft.Extensions.Options.Options.DefaultName;
        builder.AddHttpMessageHandler(sp =>
        {
            M3terAuthRegistration registration = sp.GetKeyedService<M3terAuthRegistration>(registrationName)
                ?? throw new InvalidOperationException(registrationName.Length == 0
                    ? "AddM3terAuthHandler() needs services.AddM3terAuth() to be called first."
                    : $"AddM3terAuthHandler(\"{registrationName}\") needs services.AddM3terAuth(\"{registrationName}\", ...) to be called first.");
            return new M3terAuthHandler(
                registration,
                sp.GetRequiredService<ILoggerFactory>().CreateLogger<M3terAuthHandler>(),
                sp.GetRequiredService<TimeProvider>());
        });
        HeaderRedaction.RedactCredentials(builder.Services, builder.Name);
        return builder;
    }

    /// <summary>
    /// Adds an <see cref="M3terAuthHandler"/> that sends each request with the token of the tenant it is tagged with
    /// (<see cref="M3terHttpRequestMessageExtensions.WithM3terTenant"/>), to that tenant's hosts only, and keeps the
    /// <c>Authorization</c> header out of the client's request logging.
    /// </summary>
    /// <param name="builder">The named or typed client.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    /// <exception cref="InvalidOperationException">Thrown when the client is created if <c>AddM3terAuthTenants</c> was not called.</exception>
    /// <remarks>A request without a tenant is not sent: it fails with an <see cref="M3terAuthException"/>.</remarks>
    public static IHttpClientBuilder AddM3terTenantAuthHandler(this IHttpClientBuilder builder)
    {
        if (builder is null)
        {
            throw new ArgumentNullException(nameof(builder));
        }

        builder.AddHttpMessageHandler(sp => new M3terAuthHandler(
            sp.GetService<M3ter.Auth.Tenants.TenantCache>() ?? throw new InvalidOperationException("AddM3terTenantAuthHandler() needs services.AddM3terAuthTenants(...) to be called first."),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<M3terAuthHandler>(),
            sp.GetRequiredService<TimeProvider>()));
        HeaderRedaction.RedactCredentials(builder.Services, builder.Name);
        return builder;
    }
}
