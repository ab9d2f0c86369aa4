/* main.tsx - starts the app: router, session, first render. */
import { render } from 'preact';
import { App } from './App';
import { startRouter } from './lib/router';
import { loadSession } from './lib/session';
import './styles.css';

startRouter();
void loadSession();
render(<App />, document.getElementById('app')!);
