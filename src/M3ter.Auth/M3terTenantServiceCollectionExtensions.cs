using System;
using System.Diagnostics.CodeAnalysis;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth;
using M3ter.Auth.Internal;
using M3ter.Auth.Tenants;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers m3ter authentication for many tenants (m3ter organizations) whose credentials are looked up at run time.</summary>
public static class M3terTenantServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IM3terTenantTokenProvider"/> with credentials from <typeparamref name="TSource"/> (resolved
    /// from the container if registered there, created with its dependencies otherwise), configured from the
    /// <c>M3ter:Tenants</c> configuration section. Wrap clients with <c>AddM3terTenantAuthHandler()</c>.
    /// </summary>
    /// <typeparam name="TSource">The credential source.</typeparam>
    /// <param name="services">The services.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    public static IServiceCollection AddM3terAuthTenants<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TSource>(this IServiceCollection services)
        where TSource : class, IM3terCredentialSource =>
        AddCore(services, static sp => Bind(ActivatorUtilities.GetServiceOrCreateInstance<TSource>(sp)), configure: null);

    /// <summary>Registers <see cref="IM3terTenantTokenProvider"/> as <see cref="AddM3terAuthTenants{TSource}(IServiceCollection)"/> does, then configures it.</summary>
    /// <typeparam name="TSource">The credential source.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets options; runs after configuration.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configure"/> is null.</exception>
    public static IServiceCollection AddM3terAuthTenants<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TSource>(this IServiceCollection services, Action<M3terTenantOptions> configure)
        where TSource : class, IM3terCredentialSource =>
        AddCore(services, static sp => Bind(ActivatorUtilities.GetServiceOrCreateInstance<TSource>(sp)), configure ?? throw new ArgumentNullException(nameof(configure)));

    /// <summary>Registers <see cref="IM3terTenantTokenProvider"/> with credentials looked up by <paramref name="source"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="source">Returns a tenant's credentials, or null when the tenant is unknown.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="source"/> is null.</exception>
    public static IServiceCollection AddM3terAuthTenants(this IServiceCollection services, Func<string, CancellationToken, ValueTask<M3terCredentials?>> source)
    {
        if (source is null)
        {
            throw new ArgumentNullException(nameof(source));
        }

        return AddCore(services, _ => source, configure: null);
    }

    /// <summary>Registers <see cref="IM3terTenantTokenProvider"/> with credentials looked up by <paramref name="source"/>, then configures it.</summary>
    /// <param name="services">The services.</param>
    /// <param name="source">Returns a tenant's credentials, or null when the tenant is unknown.</param>
    /// <param name="configure">Sets options; runs after configuration.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/>, <paramref name="source"/> or <paramref name="configure"/> is null.</exception>
    public static IServiceCollection AddM3terAuthTenants(this IServiceCollection services, Func<string, CancellationToken, ValueTask<M3terCredentials?>> source, Action<M3terTenantOptions> configure)
    {
        if (source is null)
        {
            throw new ArgumentNullException(nameof(source));
        }

        return AddCore(services, _ => source, configure ?? throw new ArgumentNullException(nameof(configure)));
    }

    private static Func<string, CancellationToken, ValueTask<M3terCredentials?>> Bind(IM3terCredentialSource source) => source.GetCredentialsAsync;

    private static IServiceCollection AddCore(IServiceCollection services, Func<IServiceProvider, Func<string, CancellationToken, ValueTask<M3terCredentials?>>> source, Action<M3terTenantOptions>? configure)
    {
        if (services is null)
        {
            throw new ArgumentNullException(nameof(services));
        }

        M3terAuthServiceCollectionExtensions.AddShared(services);

        // The last call's source is the one used; configuration actions add up, as with any options.
        services.Replace(ServiceDescriptor.Singleton(new TenantSourceFactory(source)));
        OptionsBuilder<M3terTenantOptions> options = services.AddOptions<M3terTenantOptions>();
        if (!services.Any(d => d.ServiceType == typeof(IValidateOptions<M3terTenantOptions>) && d.ImplementationType == typeof(M3terTenantOptionsValidator)))
        {
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<M3terTenantOptions>, M3terTenantOptionsValidator>());
            options.Configure<IServiceProvider>(static (o, sp) =>
            {
                if (sp.GetService<IConfiguration>() is IConfiguration root)
                {
                    M3terAuthConfiguration.ApplyTenantSection(o, root.GetSection(M3terTenantOptions.ConfigurationSectionName));
                }
            });
            options.ValidateOnStart();
        }

        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddSingleton(static sp => CreateCache(sp));
        services.TryAddSingleton<IM3terTenantTokenProvider>(static sp => sp.GetRequiredService<TenantCache>());
        return services;
    }

    private static TenantCache CreateCache(IServiceProvider sp)
    {
        M3terTenantOptions options = sp.GetRequiredService<IOptions<M3terTenantOptions>>().Value;
        TokenProviderFactory providers = sp.GetRequiredService<TokenProviderFactory>();

        // Every tenant shares the token settings, so one resilience pipeline serves them all; the token client's
        // HttpClient comes from the factory per request, over one pooled handler.
        var pipeline = providers.BuildPipeline(options.ToAuthOptions(new M3terCredentials("pipeline", "pipeline")));
        return new TenantCache(
            sp.GetRequiredService<TenantSourceFactory>().Create(sp),
            options,
            authOptions => providers.Create(authOptions, pipeline: pipeline),
            providers.TimeProvider,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<IM3terTenantTokenProvider>());
    }

    /// <summary>How the container gets the credential source.</summary>
    private sealed class TenantSourceFactory(Func<IServiceProvider, Func<string, CancellationToken, ValueTask<M3terCredentials?>>> create)
    {
        public Func<string, CancellationToken, ValueTask<M3terCredentials?>> Create(IServiceProvider services) => create(services);
    }
}
