/*
 * Settings.tsx - members and roles, API tokens, organizations, your profile.
 * One URL per tab (/settings/members, /settings/tokens, ...), so each is
 * linkable; the tab strip is a navigation list with aria-current.
 */
import { PageHeader } from '../components/Bits';
import { useLocation } from '../lib/router';
import { MembersTab } from './settings/Members';
import { OrgsTab } from './settings/Orgs';
import { ProfileTab } from './settings/Profile';
import { TokensTab } from './settings/Tokens';

const tabs = [
  { id: 'members', label: 'Members', component: MembersTab },
  { id: 'tokens', label: 'API tokens', component: TokensTab },
  { id: 'organizations', label: 'Organizations', component: OrgsTab },
  { id: 'profile', label: 'Profile', component: ProfileTab },
];

export function SettingsPage({ params }: { params: Record<string, string> }) {
  useLocation();
  const tab = tabs.find((t) => t.id === params.tab) ?? tabs[0];
  const Tab = tab.component;
  return (
    <div class="page">
      <PageHeader title={`Settings · ${tab.label}`} />
      <nav class="tabs" aria-label="Settings">
        {tabs.map((t) => (
          <a key={t.id} href={`/settings/${t.id}`} class="tab" aria-current={t === tab ? 'page' : undefined}>
            {t.label}
          </a>
        ))}
      </nav>
      <Tab />
    </div>
  );
}
